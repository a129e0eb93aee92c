package io.bistream.cli;

import io.bistream.core.ModelFiles;
import io.bistream.core.model.Model;
import io.bistream.core.model.ModelFormatException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The {@code --model} / {@code --weights} options every model command shares. */
final class ModelOptions {

  @Option(
      names = "--model",
      required = true,
      description = "Keras .h5 / .keras, TF.js model.json, or an architecture .json")
  Path model;

  @Option(
      names = "--weights",
      description = "weights-only .h5 when --model is an architecture JSON")
  Path weights;

  Model load() throws ModelFormatException {
    return weights == null ? ModelFiles.load(model) : ModelFiles.load(model, weights);
  }
}
