package pyengine.runtime;

import java.util.ArrayList;
import java.util.Arrays;

/**
 * 64-bit integer arithmetic with overflow checks, conversions and helpers used
 * by generated rule code. Mirrored by pyengine/reference/ops.py.
 */
public final class Ops {
    private Ops() {}

    public static long add(long a, long b) {
        long r = a + b;
        if (((a ^ r) & (b ^ r)) < 0) throw EvalException.OVERFLOW;
        return r;
    }

    public static long sub(long a, long b) {
        long r = a - b;
        if (((a ^ b) & (a ^ r)) < 0) throw EvalException.OVERFLOW;
        return r;
    }

    public static long mul(long a, long b) {
        long lo = a * b;
        if (Math.multiplyHigh(a, b) != (lo >> 63)) throw EvalException.OVERFLOW;
        return lo;
    }

    /** CEL integer division: truncates toward zero. */
    public static long div(long a, long b) {
        if (b == 0) throw EvalException.DIVISION_BY_ZERO;
        if (a == Long.MIN_VALUE && b == -1) throw EvalException.OVERFLOW;
        return a / b;
    }

    /** CEL remainder: the sign of the dividend. */
    public static long mod(long a, long b) {
        if (b == 0) throw EvalException.DIVISION_BY_ZERO;
        if (b == -1) return 0; // Long.MIN_VALUE % -1 is 0, and no overflow
        return a % b;
    }

    public static long neg(long a) {
        if (a == Long.MIN_VALUE) throw EvalException.OVERFLOW;
        return -a;
    }

    public static long abs(long a) {
        if (a == Long.MIN_VALUE) throw EvalException.OVERFLOW;
        return a < 0 ? -a : a;
    }

    public static long min(long a, long b) { return a <= b ? a : b; }
    public static long max(long a, long b) { return a >= b ? a : b; }
    // Not Math.min/max: NaN and -0.0 must behave exactly as in the reference evaluator.
    public static double min(double a, double b) { return a <= b ? a : b; }
    public static double max(double a, double b) { return a >= b ? a : b; }

    /** CEL int(double): truncates; NaN, infinities and out-of-range values are errors. */
    public static long d2l(double d) {
        if (!(d >= -9.223372036854775808E18 && d < 9.223372036854775808E18)) {
            throw new EvalException(ErrorCode.CONVERSION, "a double outside the int range to int");
        }
        return (long) d;
    }

    /** int(string): an optional sign and ASCII digits. */
    public static long parseLong(String s) {
        int n = s.length();
        int i = (n > 0 && (s.charAt(0) == '+' || s.charAt(0) == '-')) ? 1 : 0;
        boolean ok = i < n;
        for (int j = i; j < n && ok; j++) ok = s.charAt(j) >= '0' && s.charAt(j) <= '9';
        if (ok) {
            try {
                return Long.parseLong(s);
            } catch (NumberFormatException e) {
                // out of range: reported below
            }
        }
        throw new EvalException(ErrorCode.CONVERSION, "'" + s + "' to int");
    }

    /** double(string): a plain decimal number, optionally with an exponent. */
    public static double parseDouble(String s) {
        if (!Str.isPlainNumber(s)) {
            throw new EvalException(ErrorCode.CONVERSION, "'" + s + "' to double");
        }
        return Double.parseDouble(s);
    }

    public static boolean in(long x, long[] items) {
        for (long item : items) if (x == item) return true;
        return false;
    }

    /** Membership in a list sorted by sortedLongs. */
    public static boolean inSorted(long x, long[] sorted) {
        return Arrays.binarySearch(sorted, x) >= 0;
    }

    /** Membership in a list sorted by sortedStrings. */
    public static boolean inSorted(String x, String[] sorted) {
        return Arrays.binarySearch(sorted, x) >= 0;
    }

    /*
     * Arrays the generated code gives as text, cut into literals anywhere (see
     * pyengine/codegen/javatext.py): as Java array literals their values would fill the
     * class initializer, which the JVM bounds to 64 KB of bytecode.
     */

    /** Values apart by single spaces, such as rule ids. */
    public static String[] words(String... parts) {
        String text = String.join("", parts);
        return text.isEmpty() ? new String[0] : text.split(" ", -1);
    }

    /** Ints apart by single spaces. */
    public static int[] ints(String... parts) {
        String[] items = words(parts);
        int[] values = new int[items.length];
        for (int k = 0; k < items.length; k++) values[k] = Integer.parseInt(items[k]);
        return values;
    }

    /** Lists of words(), apart by '|'. */
    public static String[][] wordLists(String... parts) {
        String[] lists = String.join("", parts).split("\\|", -1);
        String[][] values = new String[lists.length][];
        for (int k = 0; k < lists.length; k++) values[k] = words(lists[k]);
        return values;
    }

    /** Lists of ints(), apart by '|'. */
    public static int[][] intLists(String... parts) {
        String[] lists = String.join("", parts).split("\\|", -1);
        int[][] values = new int[lists.length][];
        for (int k = 0; k < lists.length; k++) values[k] = ints(lists[k]);
        return values;
    }

    /** Any strings: each as its length in UTF-16 units, ':', then itself. */
    public static String[] strings(String... parts) {
        String text = String.join("", parts);
        ArrayList<String> values = new ArrayList<>();
        for (int at = 0; at < text.length(); ) {
            int colon = text.indexOf(':', at);
            int end = colon + 1 + Integer.parseInt(text, at, colon, 10);
            values.add(text.substring(colon + 1, end));
            at = end;
        }
        return values.toArray(new String[0]);
    }

    /** The values of a long 'in' list (also decimals, scaled, and timestamps), sorted. */
    public static long[] sortedLongs(String... parts) {
        String[] items = words(parts);
        long[] values = new long[items.length];
        for (int k = 0; k < items.length; k++) values[k] = Long.parseLong(items[k]);
        Arrays.sort(values);
        return values;
    }

    /** The values of a string 'in' list, as strings() reads them, sorted. */
    public static String[] sortedStrings(String... parts) {
        String[] values = strings(parts);
        Arrays.sort(values);
        return values;
    }

    public static boolean in(double x, double[] items) {
        for (double item : items) if (x == item) return true;
        return false;
    }

    public static boolean in(String x, String[] items) {
        for (String item : items) if (x.equals(item)) return true;
        return false;
    }

    // Reading an absent optional value: typed so they fit in any expression.
    public static long missingLong(EvalException e) { throw e; }
    public static int missingInt(EvalException e) { throw e; }
    public static double missingDouble(EvalException e) { throw e; }
    public static boolean missingBoolean(EvalException e) { throw e; }
    public static String missingString(EvalException e) { throw e; }
}
