package io.bistream.job;

import io.bistream.core.model.Model;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The model versions one subtask of the keyed operator serves (docs/operations.md, "Model
 * upgrades"): the newest, which new sequences start on, the loaded models with their engines, and
 * per version the open sequences pinned to it. A version is loaded from its URI on first use and
 * dropped when it is neither the newest nor used by an open sequence. Plain Java: the operator
 * keeps the versions' URIs in Flink state and hands them in as {@code uris}.
 */
final class ModelVersions {

  private static final Logger LOG = LoggerFactory.getLogger(ModelVersions.class);

  private final Function<String, String> uris; // version -> URI, or null when unknown
  private final Map<String, Model> models = new HashMap<>();
  private final Map<String, String> loadedFrom = new HashMap<>();
  // Open sequences per version (absent: none).
  private final Map<String, Long> users = new HashMap<>();
  // Per version one engine per streaming settings: sequences restored from a run with other
  // settings finish in theirs (docs/operations.md, "Restore").
  private final Map<String, Map<StreamConfig, StreamingEngine>> engines = new HashMap<>();
  private String newest;
  // The engine asked last, and what it was asked for.
  private String lastVersion;
  private StreamConfig lastConfig;
  private StreamingEngine lastEngine;

  ModelVersions(Function<String, String> uris) {
    this.uris = uris;
  }

  /** The version new sequences start on. */
  String newest() {
    return newest;
  }

  /** Makes {@code version} the newest; the one before goes if no open sequence uses it. */
  void makeNewest(String version) {
    String before = newest;
    newest = version;
    if (before != null && !before.equals(version)) {
      unloadIfUnused(before);
    }
  }

  /** The model of {@code version}, loaded from its URI on first use. */
  Model model(String version) {
    Model m = models.get(version);
    if (m != null) {
      return m;
    }
    String uri = uris.apply(version);
    if (uri == null) {
      throw new IllegalStateException(
          "model version " + version + " is not in the job's model versions (broadcast state)");
    }
    try {
      m = ModelCache.acquire(uri);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "model version " + version + " (" + uri + "): " + e.getMessage(), e);
    }
    adopt(version, uri, m);
    return m;
  }

  /** Takes {@code model}, acquired from {@link ModelCache} at {@code uri}, as {@code version}. */
  void adopt(String version, String uri, Model model) {
    models.put(version, model);
    loadedFrom.put(version, uri);
  }

  boolean loaded(String version) {
    return models.containsKey(version);
  }

  /** The engine of {@code version} in streaming settings {@code config}. */
  StreamingEngine engine(String version, StreamConfig config) {
    // Asked for every sequence of every engine call, nearly always the same one: remembered.
    if (lastEngine != null
        && version.equals(lastVersion)
        && (config == lastConfig || config.equals(lastConfig))) {
      return lastEngine;
    }
    Model m = model(version);
    StreamingEngine e =
        engines
            .computeIfAbsent(version, v -> new HashMap<>())
            .computeIfAbsent(config, c -> new StreamingEngine(m, c));
    lastVersion = version;
    lastConfig = config;
    lastEngine = e;
    return e;
  }

  /** One more open sequence on {@code version}. */
  void use(String version) {
    users.merge(version, 1L, Long::sum);
  }

  /** One open sequence less on {@code version}, which goes when no longer used. */
  void release(String version) {
    users.computeIfPresent(version, (k, n) -> n > 1 ? n - 1 : null);
    unloadIfUnused(version);
  }

  private void unloadIfUnused(String version) {
    if (version.equals(newest) || users.containsKey(version) || !models.containsKey(version)) {
      return;
    }
    models.remove(version);
    engines.remove(version);
    lastEngine = null;
    ModelCache.release(loadedFrom.remove(version));
    LOG.info("Model version {} unloaded: no open sequence of this subtask uses it", version);
  }

  /** Open sequences per version. */
  Map<String, Long> users() {
    return Map.copyOf(users);
  }

  /** The versions loaded. */
  Set<String> loadedVersions() {
    return Set.copyOf(models.keySet());
  }

  /** Lets go of every model (the operator closes). */
  void close() {
    loadedFrom.values().forEach(ModelCache::release);
    loadedFrom.clear();
    models.clear();
    engines.clear();
    lastEngine = null;
  }
}
