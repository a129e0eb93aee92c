package io.bistream.job;

import io.bistream.core.model.Model;
import io.bistream.core.stream.StreamConfig;
import io.bistream.core.stream.StreamingEngine;
import io.bistream.job.records.ModelUpdate;
import io.bistream.job.records.OutputRecord;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import org.apache.flink.api.common.state.BroadcastState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The keyed operator's model versions (docs/operations.md, "Model upgrades"): the versions at
 * start, the records of {@code --model-topic}, and per sequence the version it is pinned to. The
 * versions' URIs live in the operator's broadcast state ({@code model-versions}, the newest in
 * {@code model-newest}), so every subtask can load a pinned version after a restore or rescale;
 * {@link ModelVersions} holds what this subtask loaded and counts its open sequences per version. A
 * model record that cannot be loaded, or that takes other input than the running model, is refused
 * with a {@code bad_model} dead letter and the job serves what it served.
 */
final class ModelUpgrades {

  private static final Logger LOG = LoggerFactory.getLogger(ModelUpgrades.class);

  /** The key of the newest version in the {@code model-newest} state. */
  static final String NEWEST = "newest";

  private final JobSettings settings;
  private final BroadcastState<String, String> versions;
  private final BroadcastState<String, String> newestState;
  private final int subtask;
  private final Consumer<OutputRecord> deadLetters;
  private final ModelVersions models;

  /**
   * @param versions version -> model URI, every version the job took
   * @param newestState {@value #NEWEST} -> the version new sequences start on
   * @param subtask this subtask's index: subtask 0 writes the dead letters of refused records
   * @param deadLetters where a refused model record's dead letter goes
   */
  ModelUpgrades(
      JobSettings settings,
      BroadcastState<String, String> versions,
      BroadcastState<String, String> newestState,
      int subtask,
      Consumer<OutputRecord> deadLetters) {
    this.settings = settings;
    this.versions = versions;
    this.newestState = newestState;
    this.subtask = subtask;
    this.deadLetters = deadLetters;
    this.models = new ModelVersions(this::uriOf);
  }

  /** The version new sequences start on. */
  String newest() {
    return models.newest();
  }

  /** Lets go of every model (the operator closes). */
  void close() {
    models.close();
  }

  /**
   * The versions at start: those of the broadcast state a restore brought, and the job's own {@code
   * --model} under {@code --model-version}. A version the state does not know is the newest (a
   * restart with another model is an upgrade too); else the restored newest stays.
   */
  void open() throws Exception {
    String own = settings.modelVersion();
    String newest = newestState.get(NEWEST);
    String known = versions.get(own);
    if (known == null) {
      versions.put(own, settings.model());
      newest = own;
    } else if (!known.equals(settings.model())) {
      LOG.warn(
          "Model version {} is {} in the restored state, not --model {}: the state's is kept, so"
              + " sequences pinned to {} finish on the model they started on. Give the new model"
              + " another --model-version.",
          own,
          known,
          settings.model(),
          own);
    }
    if (newest == null) {
      newest = own;
    }
    try {
      models.model(newest);
    } catch (RuntimeException e) {
      if (newest.equals(own)) {
        throw e;
      }
      LOG.error(
          "The newest model version {} ({}) cannot be loaded; new sequences start on --model {}"
              + " (version {})",
          newest,
          versions.get(newest),
          settings.model(),
          own,
          e);
      newest = own;
      models.model(newest);
    }
    models.makeNewest(newest);
    newestState.put(NEWEST, newest);
  }

  /** The version sequence {@code s} is pinned to; state from before versions: the job's own. */
  String versionOf(SequenceRecord s) {
    return s.modelVersion != null ? s.modelVersion : settings.modelVersion();
  }

  /** The URI of {@code version}: the broadcast state's, or --model for the job's own version. */
  private String uriOf(String version) {
    String uri;
    try {
      uri = versions.get(version);
    } catch (Exception e) {
      throw new IllegalStateException("model versions (broadcast state): " + e.getMessage(), e);
    }
    return uri == null && version.equals(settings.modelVersion()) ? settings.model() : uri;
  }

  StreamingEngine engine(String version, StreamConfig config) {
    return models.engine(version, config);
  }

  /** One more open sequence on its version. */
  void use(SequenceRecord s) {
    models.use(versionOf(s));
  }

  /** One open sequence less on its version, which goes when no longer used. */
  void release(SequenceRecord s) {
    models.release(versionOf(s));
  }

  /** Open sequences of this subtask per model version. */
  Map<String, Long> users() {
    return models.users();
  }

  /** The versions this subtask holds loaded. */
  Set<String> loadedVersions() {
    return models.loadedVersions();
  }

  /**
   * A model record: its version becomes the newest on this subtask once its model is loaded and
   * takes the input the running one takes; else it is refused and nothing changes. Never fails the
   * job.
   */
  void take(ModelUpdate u) throws Exception {
    try {
      takeModel(u);
    } catch (SequenceOperator.OutputFailed f) {
      throw f;
    } catch (RuntimeException ex) {
      refuse(
          u,
          "the job failed on this model record; it goes on serving version " + models.newest(),
          "a model record it can apply",
          ex.getClass().getSimpleName() + ": " + ex.getMessage());
    }
  }

  private void takeModel(ModelUpdate u) throws Exception {
    if (u.problem != null) {
      refuse(
          u,
          "not a model record: " + u.problem,
          "{\"model\": URI, \"version\": V}",
          u.text == null ? "an empty record" : "the record shown in \"record\"");
      return;
    }
    String known = versions.get(u.version);
    if (known != null && !known.equals(u.model)) {
      refuse(
          u,
          "version " + u.version + " already names another model; give the new one a new version",
          "model " + known + " (version " + u.version + ")",
          "model " + u.model);
      return;
    }
    boolean loaded = models.loaded(u.version);
    Model m;
    try {
      m = loaded ? models.model(u.version) : ModelCache.acquire(u.model);
    } catch (Exception e) {
      refuse(
          u,
          "the model cannot be loaded; the job goes on serving version " + models.newest(),
          "a model file BiStream can load",
          e.getClass().getSimpleName() + ": " + e.getMessage());
      return;
    }
    StreamingEngine running = engine(models.newest(), settings.stream());
    String expected = inputOf(running);
    String found;
    try {
      found = inputOf(new StreamingEngine(m, settings.stream()));
    } catch (RuntimeException e) {
      found = "a model the job's mode cannot run: " + e.getMessage();
    }
    if (!found.equals(expected)) {
      if (!loaded) {
        ModelCache.release(u.model);
      }
      refuse(
          u,
          "the model takes other input than the running version "
              + models.newest()
              + "; the job goes on serving it",
          expected,
          found);
      return;
    }
    if (!loaded) {
      models.adopt(u.version, u.model, m);
    }
    versions.put(u.version, u.model);
    newestState.put(NEWEST, u.version);
    models.makeNewest(u.version);
    LOG.info(
        "Model version {} ({}) is the newest: new sequences start on it; open ones finish on theirs",
        u.version,
        u.model);
  }

  /** What a model takes, as a model record's dead letter names it. */
  private static String inputOf(StreamingEngine e) {
    return e.tokenVocabulary() > 0
        ? "token ids in [0, " + e.tokenVocabulary() + ")"
        : "input width " + e.inputWidth();
  }

  /**
   * A refused model record: its {@code bad_model} dead letter, written by subtask 0 (each subtask
   * decides, the same way when it reads the same files); any other subtask logs its refusal.
   */
  private void refuse(ModelUpdate u, String detail, String expected, String found) {
    LOG.warn(
        "Model record {} -> {} at {}/{}@{} refused by subtask {}: {}; expected {}, found {}",
        u.version,
        u.model,
        u.topic,
        u.partition,
        u.offset,
        subtask,
        detail,
        expected,
        found);
    if (subtask != 0) {
      return;
    }
    deadLetters.accept(
        new OutputRecord(
            settings.deadLetterTopic(),
            u.version,
            u.deadLetter(detail, expected, found).getBytes(StandardCharsets.UTF_8)));
  }
}
