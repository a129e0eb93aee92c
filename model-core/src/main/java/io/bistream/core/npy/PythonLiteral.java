package io.bistream.core.npy;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parser for the Python literal subset that {@code .npy} headers are written in.
 *
 * <p>NumPy writes the header with {@code repr} of a dict and reads it with {@code
 * ast.literal_eval}. This accepts dicts, tuples, lists, quoted strings, integers (with Python 2's
 * optional {@code L} suffix), {@code True}, {@code False} and {@code None}, and maps them to {@code
 * Map<Object, Object>}, {@link Tuple}, {@code List<Object>}, {@code String}, {@code BigInteger},
 * {@code Boolean} and {@code null}. As in Python, {@code (5)} is the integer 5 and {@code (5,)} a
 * one-element tuple.
 */
final class PythonLiteral {

  /** A Python tuple, kept apart from lists because NumPy requires the shape to be a tuple. */
  record Tuple(List<Object> items) {}

  /** The text is not a literal; the message says what was expected and where. */
  static final class SyntaxError extends Exception {
    private static final long serialVersionUID = 1L;

    SyntaxError(String message) {
      super(message);
    }
  }

  /** Deeper nesting than any header needs; the limit keeps hostile input off the stack. */
  private static final int MAX_DEPTH = 32;

  private final String text;
  private int pos;
  private int depth;

  private PythonLiteral(String text) {
    this.text = text;
  }

  /** Parses one literal; only whitespace may follow it. */
  static Object parse(String text) throws SyntaxError {
    PythonLiteral p = new PythonLiteral(text);
    Object value = p.value();
    p.skipSpace();
    if (p.pos < text.length()) {
      throw p.error("end of the header");
    }
    return value;
  }

  private Object value() throws SyntaxError {
    skipSpace();
    if (pos >= text.length()) {
      throw error("a value");
    }
    char c = text.charAt(pos);
    if ((c == '{' || c == '(' || c == '[') && depth == MAX_DEPTH) {
      throw new SyntaxError("nesting deeper than " + MAX_DEPTH + " at header offset " + pos);
    }
    return switch (c) {
      case '{' -> dict();
      case '(' -> parenthesized();
      case '[' -> sequence(']').values();
      case '\'', '"' -> string();
      default -> {
        if (c == '-' || c == '+' || Character.isDigit(c)) {
          yield integer();
        }
        if (Character.isLetter(c)) {
          yield name();
        }
        throw error("a value");
      }
    };
  }

  private Map<Object, Object> dict() throws SyntaxError {
    Map<Object, Object> map = new LinkedHashMap<>();
    pos++; // '{'
    depth++;
    while (true) {
      skipSpace();
      if (peek('}')) {
        pos++;
        depth--;
        return map;
      }
      Object key = value();
      skipSpace();
      expect(':');
      map.put(key, value());
      skipSpace();
      if (peek(',')) {
        pos++;
      } else if (!peek('}')) {
        throw error("',' or '}'");
      }
    }
  }

  private Object parenthesized() throws SyntaxError {
    Items items = sequence(')');
    // "(x)" is just x in Python; only a comma makes a one-element tuple.
    return items.values().size() == 1 && !items.comma()
        ? items.values().get(0)
        : new Tuple(items.values());
  }

  /** Values of a bracketed sequence, and whether a comma followed any of them. */
  private record Items(List<Object> values, boolean comma) {}

  /** Comma-separated values between the brackets, trailing comma allowed. */
  private Items sequence(char close) throws SyntaxError {
    List<Object> values = new ArrayList<>();
    boolean comma = false;
    pos++; // the opening bracket
    depth++;
    while (true) {
      skipSpace();
      if (peek(close)) {
        pos++;
        depth--;
        return new Items(values, comma);
      }
      values.add(value());
      skipSpace();
      if (peek(',')) {
        pos++;
        comma = true;
      } else if (!peek(close)) {
        throw error("',' or '" + close + "'");
      }
    }
  }

  private String string() throws SyntaxError {
    char quote = text.charAt(pos++);
    StringBuilder s = new StringBuilder();
    while (pos < text.length()) {
      char c = text.charAt(pos++);
      if (c == quote) {
        return s.toString();
      }
      if (c == '\\' && pos < text.length()) {
        char e = text.charAt(pos++);
        s.append(
            switch (e) {
              case 'n' -> '\n';
              case 't' -> '\t';
              default -> e;
            });
      } else {
        s.append(c);
      }
    }
    throw error("the closing " + quote);
  }

  private BigInteger integer() throws SyntaxError {
    int start = pos;
    if (peek('-') || peek('+')) {
      pos++;
    }
    int digits = pos;
    while (pos < text.length() && Character.isDigit(text.charAt(pos))) {
      pos++;
    }
    if (pos == digits) {
      throw error("a digit");
    }
    BigInteger n = new BigInteger(text.substring(start, pos));
    if (peek('L') || peek('l')) {
      pos++; // Python 2 long suffix, still found in old files
    }
    return n;
  }

  private Object name() throws SyntaxError {
    int start = pos;
    while (pos < text.length() && Character.isLetterOrDigit(text.charAt(pos))) {
      pos++;
    }
    String word = text.substring(start, pos);
    return switch (word) {
      case "True" -> Boolean.TRUE;
      case "False" -> Boolean.FALSE;
      case "None" -> null;
      default -> {
        pos = start;
        throw error("True, False, None, a number, a string, a tuple or a dict");
      }
    };
  }

  private void skipSpace() {
    while (pos < text.length() && Character.isWhitespace(text.charAt(pos))) {
      pos++;
    }
  }

  private boolean peek(char c) {
    return pos < text.length() && text.charAt(pos) == c;
  }

  private void expect(char c) throws SyntaxError {
    if (!peek(c)) {
      throw error("'" + c + "'");
    }
    pos++;
  }

  private SyntaxError error(String expected) {
    String found =
        pos >= text.length()
            ? "the end of the header"
            : "'" + text.substring(pos, Math.min(text.length(), pos + 12)).stripTrailing() + "'";
    return new SyntaxError(
        "expected " + expected + " at header offset " + pos + ", found " + found);
  }
}
