package pyengine.runtime;

/**
 * An evaluation error of one transaction. Stackless: errors are part of normal
 * batch traffic (they go to the dead-letter queue), so they must be cheap, and
 * the constant ones are preallocated and shared between threads (immutable).
 */
public final class EvalException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public static final EvalException OVERFLOW = new EvalException(ErrorCode.OVERFLOW, "");
    public static final EvalException DIVISION_BY_ZERO =
        new EvalException(ErrorCode.DIVISION_BY_ZERO, "");

    public final int code;
    public final String detail;

    public EvalException(int code, String detail) {
        super(detail, null, false, false);
        this.code = code;
        this.detail = detail;
    }

    public static EvalException rows(int code, int first, int second) {
        return new EvalException(code, first + ", " + second);
    }
}
