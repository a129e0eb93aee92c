package io.bistream.job;

import io.bistream.core.ModelFiles;
import io.bistream.core.layers.Simd;
import io.bistream.core.model.Model;
import io.bistream.core.model.ModelFormatException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.flink.core.fs.FileSystem;
import org.nd4j.common.config.ND4JClassLoading;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads each model once per JVM (one task manager), shared by all slots: a model is immutable after
 * loading. Paths may be local files or any Flink FileSystem URI ({@code s3://}, {@code hdfs://},
 * ...), which is copied to a local temporary file first.
 *
 * <p>A model the job's operators {@link #acquire} is dropped when the last of them {@link
 * #release}s it (an old model version no open sequence uses, docs/operations.md, "Model upgrades");
 * one taken with {@link #get} stays for the JVM's life.
 */
public final class ModelCache {

  private static final Logger LOG = LoggerFactory.getLogger(ModelCache.class);
  private static final Map<String, Model> MODELS = new ConcurrentHashMap<>();
  // Users per location of acquire(); a location get() took is never dropped.
  private static final Map<String, Integer> USERS = new java.util.HashMap<>();
  private static final java.util.Set<String> KEPT = new java.util.HashSet<>();

  static {
    // ND4J finds its services through a class loader it caches on first use, by default the
    // thread's context loader. In a Flink task that is the job's user-code loader, closed when the
    // job ends: the next job in the same JVM (a resubmission to a session cluster, the next test on
    // a MiniCluster) then fails with "Trying to access closed classloader". Pin it to the loader
    // that loaded ND4J itself.
    ND4JClassLoading.setNd4jClassloaderFromClass(ND4JClassLoading.class);
  }

  private ModelCache() {}

  /** The model at {@code location}, loaded once and kept for the JVM's life. */
  public static Model get(String location) throws IOException {
    Model cached = MODELS.get(location);
    if (cached != null) {
      synchronized (MODELS) {
        KEPT.add(location);
      }
      return cached;
    }
    synchronized (MODELS) {
      KEPT.add(location);
      return load(location);
    }
  }

  /** The model at {@code location}, loaded unless loaded; kept until as many {@link #release}s. */
  public static Model acquire(String location) throws IOException {
    synchronized (MODELS) {
      Model m = load(location);
      USERS.merge(location, 1, Integer::sum);
      return m;
    }
  }

  /** One user of {@link #acquire} is done with {@code location}; the last one drops it. */
  public static void release(String location) {
    synchronized (MODELS) {
      Integer users = USERS.get(location);
      if (users == null) {
        return;
      }
      if (users > 1) {
        USERS.put(location, users - 1);
        return;
      }
      USERS.remove(location);
      if (!KEPT.contains(location) && MODELS.remove(location) != null) {
        LOG.info("model {} unloaded: no sequence of this TaskManager uses it", location);
      }
    }
  }

  /** True while {@code location} is loaded (tests). */
  static boolean loaded(String location) {
    return MODELS.containsKey(location);
  }

  /** Holding the lock: the loaded model, or it loaded now. */
  private static Model load(String location) throws IOException {
    Model cached = MODELS.get(location);
    if (cached == null) {
      cached = ModelFiles.load(localCopy(location));
      MODELS.put(location, cached);
      LOG.info("model {} loaded; recurrences run on {}", location, Simd.describe());
    }
    return cached;
  }

  private static Path localCopy(String location) throws IOException {
    URI uri = URI.create(location.replace(" ", "%20"));
    if (uri.getScheme() == null
        || uri.getScheme().equals("file")
        || uri.getScheme().length() == 1) {
      return Path.of(
          uri.getScheme() == null || uri.getScheme().length() == 1 ? location : uri.getPath());
    }
    org.apache.flink.core.fs.Path remote = new org.apache.flink.core.fs.Path(uri);
    String name = remote.getName();
    Path local =
        Files.createTempFile(
            "bistream-model-", name.contains(".") ? name.substring(name.lastIndexOf('.')) : "");
    local.toFile().deleteOnExit();
    try (InputStream in = FileSystem.get(uri).open(remote)) {
      Files.copy(in, local, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      throw new ModelFormatException(location + ": cannot read the model: " + e.getMessage(), e);
    }
    return local;
  }
}
