package pyengine.runtime;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Writes rows of Arrow arrays as JSON objects, one a line: the Kafka result messages.
 *
 * Values are written the way Python's {@code json_safe} gives them to {@code json.dumps}:
 * decimals as the text {@code str(Decimal)} gives, timestamps as
 * {@code datetime.isoformat()} gives (microseconds only when there are some), floats that
 * are not finite as the strings "nan", "inf" and "-inf". The arrays are read in place,
 * from direct buffers over Arrow's memory; the lines are joined by newlines, which JSON
 * text never holds unescaped. Not thread-safe: one writer per call.
 */
public final class JsonRows {
    private static final byte[] NULL = bytes("null");
    private static final byte[] TRUE = bytes("true");
    private static final byte[] FALSE = bytes("false");
    private static final byte[] HEX = bytes("0123456789abcdef");

    // Each column's name as a JSON key, after the brace or comma before it, and that
    // with a null: one copy for what the row holds before the column's value.
    private final byte[][] keys;
    private final byte[][] nulls;
    private final Column[] columns;
    // A batch's lines take megabytes: a new array for each batch, grown by doubling, cost
    // as much as writing them. Each thread keeps the largest it needed.
    private static final ThreadLocal<byte[]> BUFFERS =
        ThreadLocal.withInitial(() -> new byte[1 << 16]);
    private byte[] out = BUFFERS.get();
    private int size;

    /** Columns are Objects: JPype makes arrays of classes that the system loader has. */
    public JsonRows(String[] names, Object[] columns) {
        this.columns = new Column[columns.length];
        this.keys = new byte[names.length][];
        this.nulls = new byte[names.length][];
        for (int c = 0; c < names.length; c++) {
            this.columns[c] = (Column) columns[c];
            byte[] utf8 = names[c].getBytes(StandardCharsets.UTF_8);
            size = 0;
            put((byte) (c == 0 ? '{' : ','));
            string(ByteBuffer.wrap(utf8), 0, utf8.length);
            put((byte) ':');
            keys[c] = Arrays.copyOf(out, size);
            put(NULL);
            nulls[c] = Arrays.copyOf(out, size);
        }
    }

    /** Writes rows 0 .. rows - 1; returns the number of bytes written. */
    public int write(int rows) {
        size = 0;
        for (int row = 0; row < rows; row++) {
            if (row > 0) put((byte) '\n');
            for (int c = 0; c < columns.length; c++) {
                Column column = columns[c];
                int at = column.offset + row;
                if (column.valid(at)) {
                    put(keys[c]);
                    column.write(this, at);
                } else {
                    put(nulls[c]);
                }
            }
            put((byte) '}');
        }
        return size;
    }

    /** Copies what {@link #write} wrote into {@code target} (at least that large). */
    public void copyTo(ByteBuffer target) {
        target.put(0, out, 0, size);
    }

    // -- output ------------------------------------------------------------
    private void room(int bytes) {
        if (size + bytes > out.length) {
            out = Arrays.copyOf(out, Math.max(out.length * 2, size + bytes));
            BUFFERS.set(out);
        }
    }

    void put(byte b) {
        room(1);
        out[size++] = b;
    }

    void put(byte[] bytes) {
        room(bytes.length);
        System.arraycopy(bytes, 0, out, size, bytes.length);
        size += bytes.length;
    }

    void ascii(String text) {
        room(text.length());
        for (int k = 0; k < text.length(); k++) {
            out[size++] = (byte) text.charAt(k);
        }
    }

    /** The digits of {@code value}, at least {@code width} of them (zeros first). */
    void digits(long value, int width) {
        if (value < 0) {
            if (value == Long.MIN_VALUE) {
                ascii(Long.toString(value));
                return;
            }
            put((byte) '-');
            value = -value;
        }
        room(Math.max(width, 19));
        int length = 1;
        for (long rest = value / 10; rest > 0; rest /= 10) length++;
        length = Math.max(length, width);
        for (int k = size + length - 1; k >= size; k--) {
            out[k] = (byte) ('0' + value % 10);
            value /= 10;
        }
        size += length;
    }

    /** A JSON string of the UTF-8 bytes {@code data[start, end)}. */
    void string(ByteBuffer data, int start, int end) {
        int length = end - start;
        room(length + 2);
        out[size++] = '"';
        data.get(start, out, size, length); // bytes from 0x80 on are UTF-8 as JSON takes it
        for (int k = size; k < size + length; k++) {
            byte b = out[k];
            if (b == '"' || b == '\\' || (b >= 0 && b < 0x20)) {
                int copied = k - size; // the bytes before it stay as they are
                size = k;
                escaped(data, start + copied, end);
                return;
            }
        }
        size += length;
        out[size++] = '"';
    }

    /** The rest of a string from {@code data[start]}, the first byte that needs escaping. */
    private void escaped(ByteBuffer data, int start, int end) {
        for (int k = start; k < end; k++) {
            byte b = data.get(k);
            room(6 + end - k); // the escape and the bytes left, with the closing quote
            if (b == '"' || b == '\\' || (b >= 0 && b < 0x20)) {
                escape(b);
            } else {
                out[size++] = b;
            }
        }
        out[size++] = '"';
    }

    private void escape(byte b) {
        out[size++] = '\\';
        if (b == '"' || b == '\\') {
            out[size++] = b;
        } else {
            out[size++] = 'u';
            out[size++] = '0';
            out[size++] = '0';
            out[size++] = HEX[b >> 4];
            out[size++] = HEX[b & 15];
        }
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.US_ASCII);
    }

    private static ByteBuffer little(ByteBuffer buffer) {
        return buffer == null ? null : buffer.order(ByteOrder.LITTLE_ENDIAN);
    }

    // -- columns -----------------------------------------------------------
    /** One Arrow array: {@code offset} is the array's, its validity bitmap may be null. */
    public abstract static class Column {
        private final ByteBuffer validity;
        final int offset;

        Column(ByteBuffer validity, int offset) {
            this.validity = validity;
            this.offset = offset;
        }

        final boolean valid(int at) {
            return validity == null || (validity.get(at >>> 3) & (1 << (at & 7))) != 0;
        }

        /** Writes the value at row {@code row}: the value at index offset + row. */
        final void value(JsonRows out, int row) {
            int at = offset + row;
            if (valid(at)) {
                write(out, at);
            } else {
                out.put(NULL);
            }
        }

        /** Writes the (valid) value at index {@code at} of the buffers. */
        abstract void write(JsonRows out, int at);
    }

    public static Column int64(ByteBuffer validity, ByteBuffer values, int offset) {
        ByteBuffer data = little(values);
        return new Column(validity, offset) {
            void write(JsonRows out, int at) {
                out.digits(data.getLong(at << 3), 1);
            }
        };
    }

    public static Column int32(ByteBuffer validity, ByteBuffer values, int offset) {
        ByteBuffer data = little(values);
        return new Column(validity, offset) {
            void write(JsonRows out, int at) {
                out.digits(data.getInt(at << 2), 1);
            }
        };
    }

    public static Column float64(ByteBuffer validity, ByteBuffer values, int offset) {
        ByteBuffer data = little(values);
        return new Column(validity, offset) {
            void write(JsonRows out, int at) {
                double value = data.getDouble(at << 3);
                if (Double.isNaN(value)) {
                    out.ascii("\"nan\"");
                } else if (Double.isInfinite(value)) {
                    out.ascii(value > 0 ? "\"inf\"" : "\"-inf\"");
                } else {
                    // Shortest or not (JDK 17's is not always), it reads back as the value.
                    out.ascii(Double.toString(value));
                }
            }
        };
    }

    public static Column bool(ByteBuffer validity, ByteBuffer bits, int offset) {
        return new Column(validity, offset) {
            void write(JsonRows out, int at) {
                out.put((bits.get(at >>> 3) & (1 << (at & 7))) != 0 ? TRUE : FALSE);
            }
        };
    }

    /** A string array: int32 offsets into its UTF-8 data. */
    public static Column strings(ByteBuffer validity, ByteBuffer offsets, ByteBuffer data,
                                 int offset) {
        ByteBuffer ends = little(offsets);
        return new Column(validity, offset) {
            void write(JsonRows out, int at) {
                out.string(data, ends.getInt(at << 2), ends.getInt((at + 1) << 2));
            }
        };
    }

    /**
     * A dictionary array: int32 indices into {@code dictionary}, of {@code entries} values.
     * Each value's JSON is written once and copied after that: a results column holds a
     * few values (rule ids, decisions, the rules version) many times.
     */
    public static Column dictionary(ByteBuffer validity, ByteBuffer indices, int offset,
                                    Column dictionary, int entries) {
        ByteBuffer codes = little(indices);
        byte[][] written = new byte[entries][];
        return new Column(validity, offset) {
            void write(JsonRows out, int at) {
                int code = codes.getInt(at << 2);
                byte[] json = written[code];
                if (json == null) {
                    int start = out.size;
                    dictionary.value(out, code);
                    json = written[code] = Arrays.copyOfRange(out.out, start, out.size);
                    out.size = start;
                }
                out.put(json);
            }
        };
    }

    /** A list array: int32 offsets into the array of its items. */
    public static Column list(ByteBuffer validity, ByteBuffer offsets, int offset, Column items) {
        ByteBuffer ends = little(offsets);
        return new Column(validity, offset) {
            void write(JsonRows out, int at) {
                int end = ends.getInt((at + 1) << 2);
                out.put((byte) '[');
                for (int item = ends.getInt(at << 2); item < end; item++) {
                    items.value(out, item);
                    if (item + 1 < end) out.put((byte) ',');
                }
                out.put((byte) ']');
            }
        };
    }

    /** A decimal128 array of the given scale, written as Python's str(Decimal) writes it. */
    public static Column decimal(ByteBuffer validity, ByteBuffer values, int offset, int scale) {
        ByteBuffer data = little(values);
        return new Column(validity, offset) {
            void write(JsonRows out, int at) {
                long low = data.getLong(at << 4);
                long high = data.getLong((at << 4) + 8);
                String digits;
                boolean negative;
                if (high == (low >> 63) && low != Long.MIN_VALUE) { // fits a long
                    negative = low < 0;
                    digits = Long.toString(Math.abs(low));
                } else {
                    BigInteger value = BigInteger.valueOf(high).shiftLeft(64)
                        .or(BigInteger.valueOf(low).and(LOW_64));
                    negative = value.signum() < 0;
                    digits = value.abs().toString();
                }
                out.put((byte) '"');
                if (negative) out.put((byte) '-');
                out.ascii(decimalText(digits, scale));
                out.put((byte) '"');
            }
        };
    }

    private static final BigInteger LOW_64 = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

    /**
     * Python's {@code str(Decimal)} of the coefficient {@code digits} (no sign) and exponent
     * -scale: positional unless the adjusted exponent is below -6 (scale >= 0 here).
     */
    static String decimalText(String digits, int scale) {
        int adjusted = digits.length() - 1 - scale;
        if (adjusted < -6) {
            String fraction = digits.length() > 1 ? "." + digits.substring(1) : "";
            return digits.charAt(0) + fraction + "E" + adjusted;
        }
        if (scale == 0) return digits;
        if (digits.length() > scale) {
            int point = digits.length() - scale;
            return digits.substring(0, point) + "." + digits.substring(point);
        }
        return "0." + "0".repeat(scale - digits.length()) + digits;
    }

    /** A timestamp array of microseconds since the epoch, UTC. */
    public static Column timestamp(ByteBuffer validity, ByteBuffer values, int offset) {
        ByteBuffer data = little(values);
        return new Column(validity, offset) {
            void write(JsonRows out, int at) {
                out.put((byte) '"');
                out.isoformat(data.getLong(at << 3));
                out.put((byte) '"');
            }
        };
    }

    /** {@code datetime.isoformat()} of a UTC time in microseconds since the epoch. */
    void isoformat(long micros) {
        long seconds = Math.floorDiv(micros, 1_000_000L);
        int fraction = (int) Math.floorMod(micros, 1_000_000L);
        long date = Times.civilFromDays(Math.floorDiv(seconds, 86_400L));
        int second = (int) Math.floorMod(seconds, 86_400L);
        long year = Math.floorDiv(date, 10_000);
        long month = Math.floorMod(date, 10_000) / 100;
        long day = Math.floorMod(date, 100);
        digits(year, 4);
        put((byte) '-');
        digits(month, 2);
        put((byte) '-');
        digits(day, 2);
        put((byte) 'T');
        digits(second / 3600, 2);
        put((byte) ':');
        digits(second / 60 % 60, 2);
        put((byte) ':');
        digits(second % 60, 2);
        if (fraction != 0) {
            put((byte) '.');
            digits(fraction, 6);
        }
        ascii("+00:00");
    }
}
