package pyengine.runtime;

/** String functions with CEL semantics (code points, ASCII case mapping). */
public final class Str {
    private Str() {}

    /**
     * The most characters one matches() reads. java.util.regex backtracks: a pattern
     * such as ".*test.*order.*urgent" reads a string's characters about n^4 times, and
     * a note of 3 KB took minutes, stalling its worker (and the run's deadline). Past
     * this budget, about half a second, the record is a regex_limit dead letter. A count
     * of reads, not a clock, so that a record fails the same way on every run.
     */
    public static final long READ_BUDGET = 100_000_000L;

    /** matches(): a search, as in CEL, with the caller's Search of the pattern. */
    public static boolean matches(Search search, String s) {
        return search.find(s);
    }

    /**
     * One pattern's matcher, for one thread, over a view of each value that counts the
     * characters it reads (READ_BUDGET). Made once and reset for each value: a Matcher
     * for each value would allocate, and each of Java's collections costs a full Python
     * collection under the GIL (JPype's reference queue runs one).
     */
    public static final class Search implements CharSequence {
        private final java.util.regex.Matcher matcher;
        private String text = "";
        private long left;

        public Search(java.util.regex.Pattern pattern) {
            this.matcher = pattern.matcher(this);
        }

        boolean find(String s) {
            text = s;
            left = READ_BUDGET;
            try {
                return matcher.reset().find();
            } catch (OverBudget e) {
                throw limit(s, "read its characters more than " + READ_BUDGET + " times; "
                    + "a pattern whose repeats can match the same characters (.*a.*b) "
                    + "backtracks: anchor it, or repeat a narrower class ([^a]*a)");
            } catch (StackOverflowError e) {
                // java.util.regex recurses once per repetition of a group: a long input
                // can exhaust the thread's stack. That is this record's error, not the
                // job's; the next reset clears the matcher.
                throw limit(s, "ran out of stack; repeat a character class ([ab]*) rather "
                    + "than a group ((a|b)*)");
            } finally {
                text = "";  // (not kept alive by the evaluator)
            }
        }

        private EvalException limit(String s, String why) {
            return new EvalException(ErrorCode.REGEX_LIMIT, "matches(\""
                + matcher.pattern().pattern() + "\") on a string of " + s.length()
                + " characters " + why);
        }

        @Override
        public char charAt(int index) {
            if (--left < 0) {
                throw OverBudget.INSTANCE;
            }
            return text.charAt(index);
        }

        @Override
        public int length() {
            return text.length();
        }

        @Override
        public CharSequence subSequence(int start, int end) {
            return text.subSequence(start, end);
        }

        @Override
        public String toString() {
            return text;
        }
    }

    /** Thrown through java.util.regex when a search is over its budget (no stack trace). */
    private static final class OverBudget extends RuntimeException {
        static final OverBudget INSTANCE = new OverBudget();

        private OverBudget() {
            super(null, null, false, false);
        }
    }

    /** size(): the number of Unicode code points. */
    public static long size(String s) {
        return s.codePointCount(0, s.length());
    }

    /** Comparison in code point order (String.compareTo compares UTF-16 units). */
    public static int compare(String a, String b) {
        int n = Math.min(a.length(), b.length());
        for (int i = 0; i < n; i++) {
            char x = a.charAt(i), y = b.charAt(i);
            if (x != y) {
                // Surrogates (D800-DFFF) encode code points above FFFF: move them above E000-FFFF.
                if (x >= 0xD800 && y >= 0xD800) {
                    x = fixup(x);
                    y = fixup(y);
                }
                return x - y;
            }
        }
        return a.length() - b.length();
    }

    private static char fixup(char c) {
        return (char) (c >= 0xE000 ? c - 0x800 : c + 0x2000);
    }

    public static String lowerAscii(String s) {
        return shiftRange(s, 'A', 'Z', 32);
    }

    public static String upperAscii(String s) {
        return shiftRange(s, 'a', 'z', -32);
    }

    // s.lowerAscii() (upper: s.upperAscii()) compared with another string, without
    // making that string: the generated code calls these for a case mapping compared
    // right away, which allocated two arrays and a string a record.

    /** s.lowerAscii().equals(other) (upper: s.upperAscii().equals(other)). */
    public static boolean equalsAscii(String s, boolean upper, String other) {
        return s.length() == other.length() && regionAscii(s, 0, upper, other);
    }

    /** s.lowerAscii().contains(part) (upper: s.upperAscii().contains(part)). */
    public static boolean containsAscii(String s, boolean upper, String part) {
        for (int at = 0; at <= s.length() - part.length(); at++) {
            if (regionAscii(s, at, upper, part)) return true;
        }
        return false;
    }

    /** s.lowerAscii().startsWith(prefix) (upper: s.upperAscii().startsWith(prefix)). */
    public static boolean startsWithAscii(String s, boolean upper, String prefix) {
        return s.length() >= prefix.length() && regionAscii(s, 0, upper, prefix);
    }

    /** s.lowerAscii().endsWith(suffix) (upper: s.upperAscii().endsWith(suffix)). */
    public static boolean endsWithAscii(String s, boolean upper, String suffix) {
        int at = s.length() - suffix.length();
        return at >= 0 && regionAscii(s, at, upper, suffix);
    }

    /** Whether the case-mapped chars of s from at on start with part (which fits). */
    private static boolean regionAscii(String s, int at, boolean upper, String part) {
        for (int k = 0; k < part.length(); k++) {
            char c = s.charAt(at + k);
            if (upper && c >= 'a' && c <= 'z') {
                c -= 32;
            } else if (!upper && c >= 'A' && c <= 'Z') {
                c += 32;
            }
            if (c != part.charAt(k)) return false;
        }
        return true;
    }

    /** Shift the chars in [from, to] by delta; allocates only when something changes. */
    private static String shiftRange(String s, char from, char to, int delta) {
        char[] cs = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c >= from && c <= to) {
                if (cs == null) cs = s.toCharArray();
                cs[i] = (char) (c + delta);
            }
        }
        return cs == null ? s : new String(cs);
    }

    /** [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)? */
    static boolean isPlainNumber(String s) {
        int i = 0, n = s.length();
        if (i < n && (s.charAt(i) == '+' || s.charAt(i) == '-')) i++;
        int intDigits = 0, fracDigits = 0;
        while (i < n && isDigit(s.charAt(i))) { i++; intDigits++; }
        if (i < n && s.charAt(i) == '.') {
            i++;
            while (i < n && isDigit(s.charAt(i))) { i++; fracDigits++; }
        }
        if (intDigits + fracDigits == 0) return false;
        if (i < n && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
            i++;
            if (i < n && (s.charAt(i) == '+' || s.charAt(i) == '-')) i++;
            int expDigits = 0;
            while (i < n && isDigit(s.charAt(i))) { i++; expDigits++; }
            if (expDigits == 0) return false;
        }
        return i == n;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }
}
