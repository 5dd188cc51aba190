package pyengine.runtime;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Decodes UTF-8 values of an Arrow string column, remembering recent ones.
 *
 * A plain (not dictionary-encoded) column repeats a few values many times
 * (countries, currencies, client ids): a direct-mapped cache keyed by the bytes
 * turns most reads into a hash and a compare instead of an allocation and a
 * decode. A column of distinct values only pays the hash. Not thread-safe:
 * each Chunk owns its caches.
 */
public final class Utf8Cache {
    private static final int SLOTS = 1024; // a power of two
    private static final int MAX_CACHED = 64; // longer values are decoded every time

    private final byte[][] keys = new byte[SLOTS][];
    private final String[] values = new String[SLOTS];
    private byte[] scratch = new byte[MAX_CACHED];

    /** The string held in data[start, end). */
    public String get(ByteBuffer data, int start, int end) {
        int length = end - start;
        if (length > MAX_CACHED) {
            byte[] bytes = new byte[length];
            data.get(start, bytes);
            return new String(bytes, StandardCharsets.UTF_8);
        }
        int hash = 1;
        for (int k = 0; k < length; k++) {
            byte b = data.get(start + k);
            scratch[k] = b;
            hash = 31 * hash + b;
        }
        int slot = (hash ^ (hash >>> 16)) & (SLOTS - 1);
        byte[] key = keys[slot];
        if (key != null && key.length == length && sameBytes(key, length)) {
            return values[slot];
        }
        byte[] copy = Arrays.copyOf(scratch, length);
        String value = new String(copy, StandardCharsets.UTF_8);
        keys[slot] = copy;
        values[slot] = value;
        return value;
    }

    private boolean sameBytes(byte[] key, int length) {
        for (int k = 0; k < length; k++) {
            if (key[k] != scratch[k]) return false;
        }
        return true;
    }
}
