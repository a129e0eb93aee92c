/** BiStream model core: layers, model import and offline inference. Knows nothing of Flink. */
package io.bistream.core;
