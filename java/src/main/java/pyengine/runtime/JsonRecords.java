package pyengine.runtime;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Reads the common JSON records of a batch (JSONL lines, Kafka messages) into columns.
 *
 * Only texts this reader reads exactly as Python's {@code json.loads} and pyengine's
 * conversion would are read here; any other is marked doubtful and left to the Python
 * paths, which give its values or its error message. A text is read when it is one flat
 * object whose keys are all schema fields, each at most once and without escapes, and
 * whose values are:
 * <ul>
 *   <li>strings without escapes, control characters or non-ASCII bytes;</li>
 *   <li>ints: JSON integers of at most 18 digits;</li>
 *   <li>floats: JSON numbers (their text is read by the caller, which leaves one whose
 *       double is infinite to Python);</li>
 *   <li>bools: {@code true} or {@code false};</li>
 *   <li>decimals and timestamps: strings without escapes in the common forms that
 *       {@link Texts} reads for the single-transaction path;</li>
 *   <li>{@code null} for an optional field.</li>
 * </ul>
 * Every required field must be there. Not thread-safe: one reader per thread.
 */
public final class JsonRecords {
    public static final int STRING = 0;
    public static final int INT = 1;
    public static final int FLOAT = 2;
    public static final int BOOL = 3;
    public static final int DECIMAL = 4;
    public static final int TIMESTAMP = 5;

    private static final VarHandle LONGS =
        MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long ONES = 0x0101010101010101L;
    private static final long HIGH_BITS = 0x8080808080808080L;
    private static final long QUOTES = ONES * '"';
    private static final long BACKSLASHES = ONES * '\\';
    private static final long SPACES = ONES * ' ';

    private final byte[][] names;
    private final int[] kinds;
    private final int[] scales;
    private final long required; // a bit for each required field
    // Strings, and the texts of floats (Arrow's cast reads those exactly, 30 times faster
    // than Double.parseDouble): field -> its text column, -1 for other kinds.
    private final int[] textSlot;
    private byte[][] texts; // each text column's bytes, values one after the other
    private int[] textSize;

    // The batch being read.
    private byte[] text = new byte[0];
    // The same bytes for Texts, which reads decimal and timestamp texts as the single-
    // transaction path does; and where it puts what it read.
    private ByteBuffer textBuffer = ByteBuffer.wrap(text);
    private final long[] parsed = new long[1];
    private int at; // the next byte of text
    private int end; // the end of the current text
    // Filled here, then copied to Python's buffers in bulk: a direct buffer's checks on
    // each of a text's two dozen writes cost as much as reading it.
    private long[] values = new long[0];
    private byte[] present = new byte[0];
    private int[] offsets = new int[0];
    private int rows;

    /** Fields in schema order (at most 64): names, kinds (the constants above), scales. */
    public JsonRecords(String[] names, int[] kinds, int[] scales, boolean[] optional) {
        if (names.length > 64) throw new IllegalArgumentException("at most 64 fields");
        this.names = new byte[names.length][];
        this.kinds = kinds.clone();
        this.scales = scales.clone();
        this.textSlot = new int[names.length];
        long mask = 0;
        int slots = 0;
        for (int f = 0; f < names.length; f++) {
            this.names[f] = names[f].getBytes(StandardCharsets.UTF_8);
            if (!optional[f]) mask |= 1L << f;
            textSlot[f] = kinds[f] == STRING || kinds[f] == FLOAT ? slots++ : -1;
        }
        this.required = mask;
        this.texts = new byte[slots][];
        this.textSize = new int[slots];
        for (int s = 0; s < slots; s++) texts[s] = new byte[1 << 12];
    }

    /**
     * Reads {@code n} texts: text k is {@code joined[starts[k], starts[k + 1] - 1)} (int64
     * starts). For field f and text k it writes {@code values[f * n + k]} (a long: ints,
     * scaled decimals, microseconds, 0 or 1 for bools, a string's index) and
     * {@code present[f * n + k]} (1 or 0); strings and floats go to text columns (see
     * {@link #copyTexts}), the end of text k's bytes in column s at
     * {@code offsets[s * (n + 1) + k + 1]} (int32). {@code doubtful[k]} is 1 for
     * a text left to Python (its values are then zero and not present). Returns the
     * number of doubtful texts.
     */
    public int read(ByteBuffer joined, ByteBuffer starts, int n, ByteBuffer values,
                    ByteBuffer present, ByteBuffer offsets, ByteBuffer doubtful) {
        int fields = kinds.length;
        this.rows = n;
        if (this.values.length < fields * n) {
            this.values = new long[fields * n];
            this.present = new byte[fields * n];
        }
        if (this.offsets.length < texts.length * (n + 1)) {
            this.offsets = new int[texts.length * (n + 1)];
        }
        int size = joined.limit();
        if (text.length < size) {
            text = new byte[size];
            textBuffer = ByteBuffer.wrap(text);
        }
        joined.get(0, text, 0, size);
        long[] bounds = new long[n + 1];
        starts.order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(0, bounds);
        byte[] left = new byte[n];
        Arrays.fill(textSize, 0);
        for (int s = 0; s < texts.length; s++) this.offsets[s * (n + 1)] = 0;
        int refused = 0;
        for (int k = 0; k < n; k++) {
            at = (int) bounds[k];
            end = (int) bounds[k + 1] - 1;
            if (!record(k)) {
                clear(k);
                left[k] = 1;
                refused++;
            }
            for (int s = 0; s < texts.length; s++) {
                this.offsets[s * (n + 1) + k + 1] = textSize[s];
            }
        }
        values.order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().put(0, this.values, 0, fields * n);
        present.put(0, this.present, 0, fields * n);
        offsets.order(ByteOrder.LITTLE_ENDIAN).asIntBuffer()
            .put(0, this.offsets, 0, texts.length * (n + 1));
        doubtful.put(0, left);
        return refused;
    }

    /**
     * The bytes of text column {@code slot} read by the last {@link #read}: one a string or
     * float field, in schema order.
     */
    public int textBytes(int slot) {
        return textSize[slot];
    }

    /** Copies text column {@code slot}'s bytes into {@code target}. */
    public void copyTexts(int slot, ByteBuffer target) {
        target.put(0, texts[slot], 0, textSize[slot]);
    }

    // -- one text ------------------------------------------------------------
    /** Whether text {@code k} was read; false leaves what it wrote for clear() to undo. */
    private boolean record(int k) {
        skipBlanks();
        if (!take('{')) return false;
        skipBlanks();
        long seen = 0;
        if (!take('}')) {
            int f = -1;
            while (true) {
                f = key(f);
                if (f < 0 || (seen & (1L << f)) != 0) return false; // unknown, or twice
                seen |= 1L << f;
                skipBlanks();
                if (!take(':')) return false;
                skipBlanks();
                if (!value(f, k)) return false;
                skipBlanks();
                if (take('}')) break;
                if (!take(',')) return false;
                skipBlanks();
            }
        }
        skipBlanks();
        if (at != end || (required & ~seen) != 0) return false;
        for (int f = 0; f < kinds.length; f++) {
            if ((seen & (1L << f)) == 0) put(f, k, 0, false); // an optional field left out
        }
        return true;
    }

    /** Undoes a doubtful text's values: not present, and no string bytes. */
    private void clear(int k) {
        for (int f = 0; f < kinds.length; f++) {
            put(f, k, 0, false);
            int s = textSlot[f];
            if (s >= 0) textSize[s] = offsets[s * (rows + 1) + k];
        }
    }

    private void put(int f, int k, long value, boolean isPresent) {
        int index = f * rows + k;
        values[index] = value;
        present[index] = (byte) (isPresent ? 1 : 0);
    }

    private boolean take(char c) {
        if (at < end && text[at] == c) {
            at++;
            return true;
        }
        return false;
    }

    private void skipBlanks() {
        while (at < end) {
            byte b = text[at];
            if (b != ' ' && b != '\t' && b != '\n' && b != '\r') return;
            at++;
        }
    }

    /**
     * The field a key names, -1 for none (or a key with escapes or non-ASCII bytes).
     * Records mostly list the fields in one order: the field after {@code previous} is
     * tried first.
     */
    private int key(int previous) {
        int guess = previous + 1 < names.length ? previous + 1 : 0;
        int close = at + 1 + names[guess].length;
        if (close < end && text[at] == '"' && text[close] == '"' && named(guess, at + 1, close)) {
            at = close + 1; // the name holds no quote: this is the whole key
            return guess;
        }
        int start = at + 1;
        close = plainString();
        if (close < 0) return -1;
        for (int f = 0; f < names.length; f++) {
            if (named(f, start, close)) return f;
        }
        return -1;
    }

    private boolean named(int f, int start, int close) {
        byte[] name = names[f];
        if (name.length != close - start) return false;
        for (int c = 0; c < name.length; c++) {
            if (text[start + c] != name[c]) return false;
        }
        return true;
    }

    /**
     * At a string without escapes, control characters or non-ASCII bytes: moves past it
     * and returns the index of its closing quote; -1 for anything else. Eight bytes at a
     * time: a byte-by-byte loop took a third of the reading.
     */
    private int plainString() {
        if (!take('"')) return -1;
        int k = at;
        while (k + 8 <= end) {
            long word = (long) LONGS.get(text, k);
            long stop = zeroBytes(word ^ QUOTES) | zeroBytes(word ^ BACKSLASHES)
                | ((word - SPACES) & ~word) | word;
            stop &= HIGH_BITS;
            if (stop != 0) { // the lowest flagged byte is a real one; those above may not be
                k += Long.numberOfTrailingZeros(stop) >>> 3;
                break;
            }
            k += 8;
        }
        for (; k < end; k++) {
            byte b = text[k];
            if (b == '"') {
                at = k + 1;
                return k;
            }
            if (b == '\\' || b < 0x20) return -1; // bytes from 0x80 on are negative
        }
        return -1;
    }

    /** The high bit of each byte of {@code word} that is zero (and maybe of some above). */
    private static long zeroBytes(long word) {
        return (word - ONES) & ~word;
    }

    private boolean value(int f, int k) {
        if (at + 4 <= end && text[at] == 'n' && text[at + 1] == 'u' && text[at + 2] == 'l'
                && text[at + 3] == 'l') {
            at += 4;
            if ((required & (1L << f)) != 0) return false; // the message says null
            put(f, k, 0, false);
            return true;
        }
        switch (kinds[f]) {
            case STRING: return string(f, k);
            case INT: return integer(f, k);
            case FLOAT: return number(f, k);
            case BOOL: return bool(f, k);
            case DECIMAL: return decimal(f, k);
            case TIMESTAMP: return timestamp(f, k);
            default: return false;
        }
    }

    private boolean string(int f, int k) {
        int start = at + 1;
        int close = plainString();
        if (close < 0) return false;
        append(f, start, close);
        put(f, k, k, true);
        return true;
    }

    /** Appends {@code text[start, end)} to field f's text column. */
    private void append(int f, int start, int end) {
        int s = textSlot[f];
        int length = end - start;
        byte[] data = texts[s];
        if (textSize[s] + length > data.length) {
            data = texts[s] = Arrays.copyOf(data, Math.max(data.length * 2, textSize[s] + length));
        }
        System.arraycopy(text, start, data, textSize[s], length);
        textSize[s] += length;
    }

    /** The ASCII digits from {@code at}; moves past them. */
    private int digits() {
        int start = at;
        while (at < end && text[at] >= '0' && text[at] <= '9') at++;
        return at - start;
    }

    private long digitsValue(int start, int count) {
        long value = 0;
        for (int d = start; d < start + count; d++) value = value * 10 + (text[d] - '0');
        return value;
    }

    private boolean integer(int f, int k) {
        boolean negative = take('-');
        int start = at;
        int count = digits();
        if (count == 0 || count > 18 || (count > 1 && text[start] == '0')) return false;
        if (at < end && (text[at] == '.' || text[at] == 'e' || text[at] == 'E')) return false;
        long value = digitsValue(start, count);
        put(f, k, negative ? -value : value, true);
        return true;
    }

    private boolean number(int f, int k) {
        int start = at;
        take('-');
        int whole = at;
        int count = digits();
        if (count == 0 || (count > 1 && text[whole] == '0')) return false;
        boolean integral = true;
        if (take('.')) {
            integral = false;
            if (digits() == 0) return false;
        }
        if (at < end && (text[at] == 'e' || text[at] == 'E')) {
            integral = false;
            at++;
            if (!take('+')) take('-');
            if (digits() == 0) return false;
        }
        if (integral && count == 1 && text[whole] == '0') {
            start = whole; // json.loads reads "-0" as the int 0, whose float is 0.0, not -0.0
        }
        append(f, start, at); // Python reads the text as Arrow's cast does: correctly rounded
        put(f, k, 0, true);
        return true;
    }

    private boolean bool(int f, int k) {
        if (matches("true")) {
            put(f, k, 1, true);
            return true;
        }
        if (matches("false")) {
            put(f, k, 0, true);
            return true;
        }
        return false;
    }

    private boolean matches(String word) {
        int length = word.length();
        if (at + length > end) return false;
        for (int c = 0; c < length; c++) {
            if (text[at + c] != word.charAt(c)) return false;
        }
        at += length;
        return true;
    }

    private boolean decimal(int f, int k) {
        int start = at + 1;
        int close = plainString();
        if (close < 0 || !Texts.decimal(textBuffer, start, close, scales[f], parsed)) {
            return false;
        }
        put(f, k, parsed[0], true);
        return true;
    }

    private boolean timestamp(int f, int k) {
        int start = at + 1;
        int close = plainString();
        if (close < 0 || !Texts.timestamp(textBuffer, start, close, parsed)) return false;
        put(f, k, parsed[0], true);
        return true;
    }
}
