package pyengine.runtime;

import java.util.ArrayList;
import java.util.HashMap;

/**
 * Dictionary encoding of a string output column: each distinct value gets a
 * code once, so a chunk returns codes (a primitive buffer) plus a short list.
 */
public final class StringDict {
    private final HashMap<String, Integer> codes = new HashMap<>();
    private final ArrayList<String> values = new ArrayList<>();

    public int code(String value) {
        Integer code = codes.get(value);
        if (code == null) {
            code = values.size();
            codes.put(value, code);
            values.add(value);
        }
        return code;
    }

    public int size() {
        return values.size();
    }

    public String[] values() {
        return values.toArray(new String[0]);
    }

    /** The values from code {@code from} on: what a copy holding the codes before lacks. */
    public String[] values(int from) {
        return values.subList(Math.min(from, values.size()), values.size()).toArray(new String[0]);
    }

    public void clear() {
        codes.clear();
        values.clear();
    }
}
