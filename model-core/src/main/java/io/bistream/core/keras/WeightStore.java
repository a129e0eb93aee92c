package io.bistream.core.keras;

import io.bistream.core.model.ModelFormatException;
import java.util.List;

/** Where a Keras-config model keeps its weights: an HDF5 group, a TF.js manifest, ... */
public interface WeightStore {

  /**
   * The weights of one layer with their stored names, in stored order (possibly empty).
   *
   * @param variableNames the names of the layer's variables in the order Keras creates them, for
   *     stores that keep them unnamed (Keras 3 {@code vars/<i>}); per recurrent cell
   */
  List<NamedArray> layerWeights(String layerName, List<String> variableNames)
      throws ModelFormatException;
}
