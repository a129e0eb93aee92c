/** The inference graph that every import format is mapped onto, and offline prediction. */
package io.bistream.core.model;
