/** The {@code ./bistream} command line. Parsing and printing only: the work is in model-core. */
package io.bistream.cli;
