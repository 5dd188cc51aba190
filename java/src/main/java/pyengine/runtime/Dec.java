package pyengine.runtime;

import java.math.BigDecimal;
import java.math.BigInteger;

/**
 * Exact decimals held as a 64-bit integer scaled by 10^scale. Scales are known
 * at compile time, so they are passed as constants by generated code.
 * Mirrored by pyengine/reference/ops.py.
 */
public final class Dec {
    private Dec() {}

    private static final long[] POW10 = new long[19];
    static {
        POW10[0] = 1;
        for (int i = 1; i < POW10.length; i++) POW10[i] = POW10[i - 1] * 10;
    }

    /** Multiply by 10^by (by >= 0) with an overflow check. */
    public static long rescale(long v, int by) {
        return by == 0 ? v : Ops.mul(v, POW10[by]);
    }

    /** a (scale sa) / b (scale sb) at scale max(sa, sb), truncated toward zero. */
    public static long div(long a, int sa, long b, int sb) {
        if (b == 0) throw EvalException.DIVISION_BY_ZERO;
        int s = Math.max(sa, sb);
        return Ops.div(rescale(a, s - sa + sb), b);
    }

    /** Exact comparison that never overflows: -1, 0 or 1. */
    public static int cmp(long a, int sa, long b, int sb) {
        if (sa == sb) return Long.compare(a, b);
        if (sa < sb) return -cmp(b, sb, a, sa);
        // sa > sb: compare a with b * 10^(sa - sb) without overflowing.
        long p = POW10[sa - sb];
        long hi = Math.multiplyHigh(b, p);
        long lo = b * p;
        if (hi == (lo >> 63)) return Long.compare(a, lo);
        return hi < 0 ? 1 : -1; // |b * p| exceeds every long, so its sign decides
    }

    /** The nearest double (correctly rounded, as Python's int / int). */
    public static double toDouble(long a, int scale) {
        if (scale == 0) return (double) a;
        if (Math.abs(a) < (1L << 53)) return (double) a / (double) POW10[scale]; // both exact
        return new BigDecimal(BigInteger.valueOf(a), scale).doubleValue();
    }

    /** Truncating conversion to int. */
    public static long toLong(long a, int scale) {
        return a / POW10[scale];
    }
}
