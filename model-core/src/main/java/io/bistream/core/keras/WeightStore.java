package io.bistream.core.keras;

import io.bistream.core.model.ModelFormatException;
import java.util.List;

/** Where a Keras-config model keeps its weights: an HDF5 group, a TF.js manifest, ... */
public interface WeightStore {

  /**
   * The weights of one layer with their stored names, in stored order (possibly empty).
   *
   * @param className the layer's class, for stores whose names depend on it (Keras 3)
   */
  List<NamedArray> layerWeights(String layerName, String className) throws ModelFormatException;
}
