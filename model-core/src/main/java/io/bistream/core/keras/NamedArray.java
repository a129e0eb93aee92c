package io.bistream.core.keras;

import java.util.Arrays;

/** A stored weight: its name as the file writes it, its shape and its values (row-major). */
public record NamedArray(String name, int[] shape, float[] data) {

  /** The name without the layer prefix path and the TensorFlow {@code :0} suffix. */
  public String leaf() {
    String n = name.endsWith(":0") ? name.substring(0, name.length() - 2) : name;
    return n.substring(n.lastIndexOf('/') + 1);
  }

  @Override
  public String toString() {
    return name + Arrays.toString(shape);
  }
}
