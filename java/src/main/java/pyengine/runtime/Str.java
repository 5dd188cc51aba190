package pyengine.runtime;

/** String functions with CEL semantics (code points, ASCII case mapping). */
public final class Str {
    private Str() {}

    /**
     * matches(): a search, as in CEL, with the caller's matcher of the pattern (reset for
     * s: a new one for each value would allocate). java.util.regex recurses once per
     * repetition of a group, so a long input can exhaust the thread's stack: that is
     * this record's evaluation error, not the job's; the next reset clears the matcher.
     */
    public static boolean matches(java.util.regex.Matcher matcher, String s) {
        try {
            return matcher.reset(s).find();
        } catch (StackOverflowError e) {
            throw new EvalException(ErrorCode.REGEX_LIMIT, "matches(\""
                + matcher.pattern().pattern() + "\") on a string of " + s.length()
                + " characters ran out of stack; repeat a character class ([ab]*) rather "
                + "than a group ((a|b)*)");
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
