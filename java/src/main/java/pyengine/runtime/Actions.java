package pyengine.runtime;

/** Rule actions in increasing severity; the decision is the most severe fired. */
public final class Actions {
    public static final int APPROVE = 0;
    public static final int FLAG = 1;
    public static final int REVIEW = 2;
    public static final int REJECT = 3;
    public static final String[] NAMES = {"approve", "flag", "review", "reject"};

    private Actions() {}
}
