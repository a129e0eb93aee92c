/** Plain float32 arrays with shapes: the values exchanged between layers and with callers. */
package io.bistream.core.tensor;
