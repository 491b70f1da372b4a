package cortexxdr

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// decodeOptions read vendor JSON. Member names match exactly; unknown members are
// skipped; a duplicated member is accepted with its last value; invalid UTF-8 becomes
// U+FFFD rather than failing: one odd byte is no reason to lose a record.
var decodeOptions = json.JoinOptions(jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))

// decoder is a reusable JSON decoder over a byte slice: a fresh one per record was a
// third of the normalizer's allocations.
type decoder struct {
	r bytes.Reader
	d jsontext.Decoder
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

func (dr *decoder) put() {
	dr.r.Reset(nil)
	dr.d.Reset(&dr.r)
	decoders.Put(dr)
}

// members calls fn with the name of each member of the JSON object b, in order; fn
// must read the member's value from d (or skip it). An error names the member.
func members(b []byte, fn func(name string, d *jsontext.Decoder) error) error {
	dr := decoders.Get().(*decoder)
	defer dr.put()
	dr.r.Reset(b)
	dr.d.Reset(&dr.r, decodeOptions)
	d := &dr.d
	tok, err := d.ReadToken()
	if err != nil {
		return syntaxError(err)
	}
	if tok.Kind() != '{' {
		return fmt.Errorf("not a JSON object: got %s", kindName(tok.Kind()))
	}
	for d.PeekKind() != '}' {
		tok, err := d.ReadToken()
		if err != nil {
			return syntaxError(err)
		}
		name := tok.String() // tok is void after the next read
		if err := fn(name, d); err != nil {
			var serr *jsontext.SyntacticError
			if errors.As(err, &serr) {
				return syntaxError(err)
			}
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if _, err := d.ReadToken(); err != nil {
		return syntaxError(err)
	}
	switch _, err := d.ReadToken(); {
	case err == io.EOF:
		return nil
	case err != nil:
		return syntaxError(err)
	default:
		return errors.New("not valid JSON: data after the object")
	}
}

// syntaxError says what is wrong with JSON that does not parse, and where.
func syntaxError(err error) error {
	var serr *jsontext.SyntacticError
	if errors.As(err, &serr) {
		what := "syntax error"
		switch {
		case errors.Is(serr.Err, io.ErrUnexpectedEOF):
			what = "unexpected end of JSON input"
		case serr.Err != nil:
			what = serr.Err.Error()
		}
		return fmt.Errorf("not valid JSON: %s (byte %d)", what, serr.ByteOffset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("not valid JSON: unexpected end of JSON input")
	}
	return fmt.Errorf("not valid JSON: %w", err)
}

// kindName names a JSON kind for error messages.
func kindName(k jsontext.Kind) string {
	switch k {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "nothing"
}

// readString reads a string; null reads as "".
func readString(d *jsontext.Decoder) (string, error) {
	switch k := d.PeekKind(); k {
	case '"':
		tok, err := d.ReadToken()
		if err != nil {
			return "", err
		}
		return tok.String(), nil
	case 'n':
		_, err := d.ReadToken()
		return "", err
	default:
		if err := d.SkipValue(); err != nil {
			return "", err
		}
		return "", fmt.Errorf("want a string, got %s", kindName(k))
	}
}

// readStrings reads an array of strings, or one string as a list of one (the API is
// loose about users and addresses); null and empty strings read as nothing.
func readStrings(d *jsontext.Decoder) ([]string, error) {
	switch k := d.PeekKind(); k {
	case '[':
		if _, err := d.ReadToken(); err != nil {
			return nil, err
		}
		var out []string
		for i := 0; d.PeekKind() != ']'; i++ {
			s, err := readString(d)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			if s != "" {
				out = append(out, s)
			}
		}
		_, err := d.ReadToken()
		return out, err
	case '"', 'n':
		s, err := readString(d)
		if err != nil || s == "" {
			return nil, err
		}
		return []string{s}, nil
	default:
		if err := d.SkipValue(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("want an array of strings, got %s", kindName(k))
	}
}

// readScalar reads a number, a string or null for a member that wants a number or a
// time, and returns its text: "" for null and for the string "NULL" (XQL's text form).
func readScalar(d *jsontext.Decoder, want string) (string, jsontext.Kind, error) {
	k := d.PeekKind()
	switch k {
	case '0', '"', 'n':
	default:
		if err := d.SkipValue(); err != nil {
			return "", k, err
		}
		return "", k, fmt.Errorf("want %s, got %s", want, kindName(k))
	}
	tok, err := d.ReadToken()
	if err != nil || k == 'n' {
		return "", k, err
	}
	s := strings.TrimSpace(tok.String())
	if strings.EqualFold(s, "NULL") {
		s = ""
	}
	return s, k, nil
}

// readNumber reads a number, or a string holding one (XQL may send numbers as text);
// null, "", "NULL", NaN and infinities read as absent.
func readNumber(d *jsontext.Decoder) (*float64, error) {
	s, _, err := readScalar(d, "a number")
	if err != nil || s == "" {
		return nil, err
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("want a number, got %q", clip(s))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, nil
	}
	return &f, nil
}

// xqlTimeLayouts are the text forms of times in XQL result streams.
var xqlTimeLayouts = []string{"2006-01-02 15:04:05 MST", "2006-01-02 15:04:05", time.RFC3339Nano}

// readMillis reads a time in epoch milliseconds: a number, or a string of digits. Null,
// "" and 0 read as the zero time (unknown). get_endpoint documents numbers, so a date
// written as text is refused.
func readMillis(d *jsontext.Decoder) (time.Time, error) {
	s, _, err := readScalar(d, "epoch milliseconds")
	if err != nil || s == "" {
		return time.Time{}, err
	}
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil:
		return time.Time{}, fmt.Errorf("want epoch milliseconds, got %q", clip(s))
	case f == 0:
		return time.Time{}, nil
	case f < 0 || f > 1e15 || math.IsNaN(f):
		return time.Time{}, fmt.Errorf("%s is not a time in epoch milliseconds", clip(s))
	}
	return time.UnixMilli(int64(f)).UTC(), nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
