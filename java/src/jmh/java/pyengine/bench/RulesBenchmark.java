package pyengine.bench;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import pyengine.generated.Chunk;
import pyengine.generated.Evaluator;
import pyengine.generated.Rules;

/**
 * The compiled rules alone: {@code Evaluator.evaluateChunk} over columns that
 * {@code pyengine bench jmh} converted and wrote to {@code data}, bound exactly as
 * the Python bridge binds them (the same Chunk calls, the same bytes). One operation
 * evaluates every row once; each thread has its own chunk and result buffers, so the
 * score (operations/s, summed over threads) times {@code rows} is transactions/s.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(2)
@Warmup(iterations = 3, time = 5)
@Measurement(iterations = 5, time = 5)
public class RulesBenchmark {
    /** The directory written by {@code pyengine bench jmh}: bindings.txt and buffers. */
    @Param("")
    public String data;

    /** Rows in the data (for the reader of the results: tx/s = score * rows). */
    @Param("0")
    public int rows;

    private Chunk chunk;
    private Evaluator evaluator;

    @Setup(Level.Trial)
    public void bind() throws IOException {
        Path dir = Paths.get(data);
        List<String> calls = Files.readAllLines(dir.resolve("bindings.txt"), StandardCharsets.UTF_8);
        chunk = new Chunk();
        evaluator = Rules.newEvaluator();
        for (String call : calls) {
            String[] w = call.split(" ");
            switch (w[0]) {
                case "rows":
                    if (Integer.parseInt(w[1]) != rows) {
                        throw new IllegalArgumentException("data has " + w[1] + " rows, rows=" + rows);
                    }
                    break;
                case "bindInput":
                    chunk.bindInput(Integer.parseInt(w[1]), buffer(dir, w[2]), buffer(dir, w[3]),
                                    buffer(dir, w[4]), buffer(dir, w[5]), Integer.parseInt(w[6]));
                    break;
                case "bindMask":
                    chunk.bindMask(buffer(dir, w[1]));
                    break;
                case "bindResults":
                    chunk.bindResults(buffer(dir, w[1]), buffer(dir, w[2]), buffer(dir, w[3]),
                                      buffer(dir, w[4]), buffer(dir, w[5]), buffer(dir, w[6]),
                                      buffer(dir, w[7]));
                    break;
                case "bindOutput":
                    chunk.bindOutput(Integer.parseInt(w[1]), buffer(dir, w[2]), buffer(dir, w[3]),
                                     buffer(dir, w[4]));
                    break;
                case "bindPositions":
                    chunk.bindPositions(buffer(dir, w[1]), Integer.parseInt(w[2]),
                                        Integer.parseInt(w[3]));
                    break;
                default:
                    throw new IllegalArgumentException("unknown binding: " + call);
            }
        }
    }

    /** "-": null; "zeros:N": N zero bytes (result space); else a file read whole. */
    private static ByteBuffer buffer(Path dir, String spec) throws IOException {
        if (spec.equals("-")) {
            return null;
        }
        if (spec.startsWith("zeros:")) {
            return ByteBuffer.allocateDirect(Integer.parseInt(spec.substring(6)))
                .order(ByteOrder.nativeOrder());
        }
        try (FileChannel ch = FileChannel.open(dir.resolve(spec), StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocateDirect((int) ch.size()).order(ByteOrder.nativeOrder());
            while (buf.hasRemaining() && ch.read(buf) >= 0) {
                // read it all
            }
            buf.flip();
            return buf;
        }
    }

    @Benchmark
    public Chunk evaluateChunk() {
        evaluator.evaluateChunk(chunk, 0, rows);
        return chunk; // returned so the JIT cannot drop the work
    }
}
