package pyengine.runtime;

/**
 * CEL timestamp accessors on microseconds since the epoch, in UTC, without
 * allocating (java.time would allocate a LocalDate per call).
 */
public final class Times {
    private Times() {}

    private static final long US_PER_DAY = 86_400_000_000L;

    public static long getHours(long us) { return Math.floorMod(Math.floorDiv(us, 3_600_000_000L), 24); }
    public static long getMinutes(long us) { return Math.floorMod(Math.floorDiv(us, 60_000_000L), 60); }
    public static long getSeconds(long us) { return Math.floorMod(Math.floorDiv(us, 1_000_000L), 60); }
    /** 0 = Sunday; 1970-01-01 was a Thursday. */
    public static long getDayOfWeek(long us) { return Math.floorMod(Math.floorDiv(us, US_PER_DAY) + 4, 7); }
    public static long getFullYear(long us) { return civil(us, 0); }
    /** 0-based, as in CEL. */
    public static long getMonth(long us) { return civil(us, 1) - 1; }
    /** 0-based, as in CEL. */
    public static long getDayOfMonth(long us) { return civil(us, 2) - 1; }
    /** 1-based day of the month. */
    public static long getDate(long us) { return civil(us, 2); }

    /** Part 0 = year, 1 = month (1-12), 2 = day (1-31) of a time. */
    private static long civil(long us, int part) {
        long date = civilFromDays(Math.floorDiv(us, US_PER_DAY));
        if (part == 2) return Math.floorMod(date, 100);
        if (part == 1) return Math.floorMod(date, 10_000) / 100;
        return Math.floorDiv(date, 10_000);
    }

    /**
     * Howard Hinnant's civil_from_days: the proleptic Gregorian date of a day count since
     * 1970-01-01, as year * 10000 + month * 100 + day.
     */
    public static long civilFromDays(long days) {
        long z = days + 719468;
        long era = Math.floorDiv(z, 146097);
        long doe = z - era * 146097;
        long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        long mp = (5 * doy + 2) / 153;
        long d = doy - (153 * mp + 2) / 5 + 1;
        long m = mp < 10 ? mp + 3 : mp - 9;
        long y = yoe + era * 400 + (m <= 2 ? 1 : 0);
        return y * 10_000 + m * 100 + d;
    }

    /** Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date. */
    public static long daysFromCivil(long year, long month, long day) {
        year -= month <= 2 ? 1 : 0;
        long era = Math.floorDiv(year, 400);
        long yoe = year - era * 400;
        long doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
        long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
    }
}
