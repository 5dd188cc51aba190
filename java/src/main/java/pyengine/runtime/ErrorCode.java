package pyengine.runtime;

/**
 * Evaluation error codes written into result buffers. Mirrored by
 * pyengine/reference/ops.py; a test checks the two agree.
 */
public final class ErrorCode {
    public static final int OK = 0;
    public static final int OVERFLOW = 1;
    public static final int DIVISION_BY_ZERO = 2;
    public static final int MISSING_VALUE = 3;
    public static final int UNIQUE_VIOLATION = 4;
    public static final int ANY_CONFLICT = 5;
    public static final int CONVERSION = 6;
    public static final int INTERNAL = 7;
    public static final int UNKNOWN_CLIENT = 8;
    public static final int REGEX_LIMIT = 9;
    /** A chunk's decimal does not fit a long (a conversion error: the row is a schema dead letter). */
    public static final int OUT_OF_RANGE = 10;

    private ErrorCode() {}
}
