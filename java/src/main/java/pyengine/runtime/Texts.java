package pyengine.runtime;

import java.nio.ByteBuffer;

/**
 * Decimal and timestamp texts read from UTF-8 bytes, for the single-transaction
 * path: Python sends these fields' JSON strings as they are, because reading them
 * in Python took a fifth of a call's time. Each method accepts only the common form
 * of a text, a form Python's reader (pyengine/records.py) reads to the same value,
 * and refuses every other text; Python then reads the transaction itself, and its
 * reader accepts the value or names the problem. So a refusal is never an error
 * here, and no text is read two ways.
 */
public final class Texts {
    private Texts() {}

    private static final long US_PER_SECOND = 1_000_000L;

    /**
     * The unscaled value at {@code scale} of the plain decimal in bytes [from, to):
     * {@code -?[0-9]{1,19}(\.[0-9]{0,scale})?}, ASCII digits, in the int64 range once
     * scaled; into {@code out[0]}. False, and {@code out} untouched, for any other text.
     */
    public static boolean decimal(ByteBuffer in, int from, int to, int scale, long[] out) {
        int at = from;
        boolean negative = at < to && in.get(at) == '-';
        if (negative) at++;
        int point = at;
        while (point < to && isDigit(in.get(point))) point++;
        int whole = point - at;
        int fraction = point < to && in.get(point) == '.' ? to - point - 1 : 0;
        if (whole == 0 || whole > 19 || fraction > scale
                || (point < to && in.get(point) != '.')) {
            return false;
        }
        // Accumulated negatively, as Long.parseLong does: -2^63 has no positive twin.
        long value = 0;
        try {
            for (int i = at; i < point; i++) value = digit(value, in.get(i));
            for (int i = point + 1; i < to; i++) {
                byte b = in.get(i);
                if (!isDigit(b)) return false;
                value = digit(value, b);
            }
            for (int i = fraction; i < scale; i++) value = Math.multiplyExact(value, 10L);
            out[0] = negative ? value : Math.negateExact(value);
        } catch (ArithmeticException outOfRange) {
            return false;
        }
        return true;
    }

    private static long digit(long value, byte b) {
        return Math.subtractExact(Math.multiplyExact(value, 10L), b - '0');
    }

    /**
     * Microseconds since the epoch of the RFC 3339 text in bytes [from, to):
     * {@code YYYY-MM-DD[Tt ]hh:mm:ss(.f{1,6})?([Zz]|[+-]hh:mm)}, ASCII digits, a date
     * and time that exist (years 1-9999, no leap second) and an offset under a day, its
     * minutes any two digits as Python's {@code fromisoformat} takes them;
     * into {@code out[0]}. False for any other text.
     */
    public static boolean timestamp(ByteBuffer in, int from, int to, long[] out) {
        int length = to - from;
        if (length < 20 || !separators(in, from)) return false;
        int year = number(in, from, 4);
        int month = number(in, from + 5, 2);
        int day = number(in, from + 8, 2);
        int hour = number(in, from + 11, 2);
        int minute = number(in, from + 14, 2);
        int second = number(in, from + 17, 2);
        int at = from + 19;
        int micros = 0;
        if (in.get(at) == '.') {
            int digits = 0;
            while (at + 1 + digits < to && isDigit(in.get(at + 1 + digits))) digits++;
            if (digits == 0 || digits > 6) return false;
            micros = number(in, at + 1, digits);
            for (int i = digits; i < 6; i++) micros *= 10;
            at += 1 + digits;
        }
        int offset = offsetSeconds(in, at, to);
        // number() gives -1 for a field that is not all digits
        if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)
                || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0
                || second > 59 || offset == Integer.MIN_VALUE) {
            return false;
        }
        long seconds = Times.daysFromCivil(year, month, day) * 86_400L + hour * 3600L + minute * 60L
                + second - offset;
        out[0] = seconds * US_PER_SECOND + micros;
        return true;
    }

    /** The dashes, date-time separator and colons of a timestamp's first 19 bytes. */
    private static boolean separators(ByteBuffer in, int from) {
        byte t = in.get(from + 10);
        return in.get(from + 4) == '-' && in.get(from + 7) == '-'
                && (t == 'T' || t == 't' || t == ' ')
                && in.get(from + 13) == ':' && in.get(from + 16) == ':';
    }

    /** Seconds east of UTC of the zone in bytes [at, to); Integer.MIN_VALUE if it is not one. */
    private static int offsetSeconds(ByteBuffer in, int at, int to) {
        if (to - at == 1) {
            byte z = in.get(at);
            return z == 'Z' || z == 'z' ? 0 : Integer.MIN_VALUE;
        }
        if (to - at != 6 || in.get(at + 3) != ':') return Integer.MIN_VALUE;
        byte sign = in.get(at);
        int hours = number(in, at + 1, 2);
        int minutes = number(in, at + 4, 2);
        int seconds = hours * 3600 + minutes * 60;
        // Python takes any two-digit minutes (+00:90 is 1h30) under a day in all
        if ((sign != '+' && sign != '-') || hours < 0 || minutes < 0 || seconds >= 86_400) {
            return Integer.MIN_VALUE;
        }
        return sign == '-' ? -seconds : seconds;
    }

    /** The number written by {@code digits} ASCII digits at {@code at}; -1 if one is not a digit. */
    private static int number(ByteBuffer in, int at, int digits) {
        int value = 0;
        for (int i = at; i < at + digits; i++) {
            byte b = in.get(i);
            if (!isDigit(b)) return -1;
            value = value * 10 + (b - '0');
        }
        return value;
    }

    private static boolean isDigit(byte b) {
        return b >= '0' && b <= '9';
    }

    private static int daysInMonth(int year, int month) {
        if (month == 2) {
            boolean leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
            return leap ? 29 : 28;
        }
        return month == 4 || month == 6 || month == 9 || month == 11 ? 30 : 31;
    }
}
