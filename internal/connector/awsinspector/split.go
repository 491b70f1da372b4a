package awsinspector

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"
)

// rawFinding is one finding cut out of a ListFindings page, with the few top-level
// members the fetcher needs before the normalizer sees it.
type rawFinding struct {
	arn         string
	exploitable bool // exploitAvailable present
	fixable     bool // fixAvailable present
	payload     []byte
}

// splitPage cuts a ListFindings response into its findings' JSON in one pass over the
// bytes, reading of each finding only the top-level members the fetcher needs and
// slicing the rest out of body untouched.
//
// It checks the page's structure (objects, arrays and strings closed in order), not the
// grammar inside each finding: the normalizer decodes every finding strictly and
// dead-letters one that is malformed, so a single bad finding costs that finding, not
// the page. A token-level JSON decoder here was a third of the fetcher's CPU.
func splitPage(body []byte) ([]rawFinding, string, error) {
	s := scanner{b: body}
	if s.peek() != '{' {
		return nil, "", fmt.Errorf("ListFindings response is not a JSON object (starts %q)", truncate(body, 64))
	}
	s.i++
	var (
		findings  []rawFinding
		nextToken string
	)
	err := s.members(func(key []byte) error {
		switch string(key) {
		case "nextToken":
			if s.peek() != '"' {
				return s.skip()
			}
			tok, err := s.str()
			nextToken = string(tok)
			return err
		case "findings":
			var err error
			findings, err = s.findings()
			return err
		default:
			return s.skip()
		}
	})
	if err != nil {
		return nil, "", err
	}
	if s.peek() != 0 {
		return nil, "", fmt.Errorf("reading ListFindings response: unexpected %q after the top-level object", truncate(body[s.i:], 16))
	}
	return findings, nextToken, nil
}

func (s *scanner) findings() ([]rawFinding, error) {
	switch s.peek() {
	case 'n':
		return nil, s.skip()
	case '[':
		s.i++
	default:
		return nil, fmt.Errorf("ListFindings findings is a JSON %s, want an array", kindName(s.peek()))
	}
	var findings []rawFinding
	for {
		switch s.peek() {
		case ']':
			s.i++
			return findings, nil
		case ',':
			if len(findings) == 0 {
				return nil, fmt.Errorf("reading finding 0 of a ListFindings page: %w", s.unexpected())
			}
			s.i++
			s.peek()
		case 0:
			return nil, fmt.Errorf("reading finding %d of a ListFindings page: %w", len(findings), errTruncated)
		default:
			if len(findings) > 0 {
				return nil, fmt.Errorf("reading finding %d of a ListFindings page: want a comma or ]: %w", len(findings), s.unexpected())
			}
		}
		start := s.i
		f, err := s.finding()
		if err != nil {
			return nil, fmt.Errorf("reading finding %d of a ListFindings page: %w", len(findings), err)
		}
		// A literal's bytes end at the delimiter, white space included.
		f.payload = bytes.TrimRight(s.b[start:s.i:s.i], " \t\r\n")
		findings = append(findings, f)
	}
}

// finding reads one finding, noting the members the fetcher needs. A finding that is
// not an object is kept as it is: the normalizer dead-letters it.
func (s *scanner) finding() (rawFinding, error) {
	var f rawFinding
	if s.peek() != '{' {
		return f, s.skip()
	}
	s.i++
	err := s.members(func(key []byte) error {
		switch string(key) {
		case "findingArn":
			if s.peek() != '"' {
				return s.skip()
			}
			arn, err := s.str()
			f.arn = string(arn)
			return err
		case "exploitAvailable":
			f.exploitable = s.peek() != 'n'
		case "fixAvailable":
			f.fixable = s.peek() != 'n'
		}
		return s.skip()
	})
	return f, err
}

// structural marks the bytes skip stops at.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true, ',': true}

var errTruncated = errors.New("unexpected end of input")

// scanner walks JSON bytes. Strings are read exactly; other values are skipped by
// matching brackets.
type scanner struct {
	b []byte
	i int
}

// peek skips white space and returns the next byte, 0 at the end of input.
func (s *scanner) peek() byte {
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return c
		}
	}
	return 0
}

func (s *scanner) unexpected() error {
	if s.peek() == 0 {
		return errTruncated
	}
	return fmt.Errorf("unexpected %q at byte %d", s.b[s.i], s.i)
}

// members reads the members of an object whose '{' has been consumed, calling value
// with each name (unescaped) positioned at its value, which value must consume.
func (s *scanner) members(value func(key []byte) error) error {
	for n := 0; ; n++ {
		switch s.peek() {
		case '}':
			s.i++
			return nil
		case ',':
			if n == 0 {
				return s.unexpected()
			}
			s.i++
			s.peek()
		default:
			if n > 0 {
				return fmt.Errorf("want a comma or }: %w", s.unexpected())
			}
		}
		if s.peek() != '"' {
			return fmt.Errorf("want a member name: %w", s.unexpected())
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return fmt.Errorf("want a colon after %q: %w", key, s.unexpected())
		}
		s.i++
		if s.peek() == 0 {
			return errTruncated
		}
		if err := value(key); err != nil {
			return err
		}
	}
}

// str reads the string at s.i and returns its value, unescaped when it holds escapes
// (rare: otherwise it is the raw bytes, not copied).
func (s *scanner) str() ([]byte, error) {
	start, escaped, err := s.strEnd()
	if err != nil {
		return nil, err
	}
	if !escaped {
		return s.b[start+1 : s.i-1], nil
	}
	v, err := jsontext.AppendUnquote(nil, s.b[start:s.i])
	if err != nil {
		return nil, fmt.Errorf("invalid string at byte %d: %w", start, err)
	}
	return v, nil
}

// strEnd moves past the string at s.i and returns where it started and whether it holds
// escapes.
func (s *scanner) strEnd() (start int, escaped bool, err error) {
	start = s.i
	s.i++
	for {
		// IndexByte is vectorised; strings are most of a finding's bytes.
		end := bytes.IndexByte(s.b[s.i:], '"')
		if end < 0 {
			s.i = len(s.b)
			return start, escaped, errTruncated
		}
		if bs := bytes.IndexByte(s.b[s.i:s.i+end], '\\'); bs >= 0 {
			escaped = true
			s.i += bs + 2 // the backslash and the byte it escapes
			if s.i > len(s.b) {
				s.i = len(s.b)
				return start, escaped, errTruncated
			}
			continue
		}
		s.i += end + 1
		return start, escaped, nil
	}
}

// skip consumes one value: a string exactly, an object or array up to its matching
// close, anything else up to the next delimiter.
func (s *scanner) skip() error {
	var closers []byte // the brackets owed, innermost last
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case '"':
			if _, _, err := s.strEnd(); err != nil {
				return err
			}
		case '{', '[':
			closers = append(closers, c+2) // '}' and ']' follow their openers by two
			s.i++
			continue
		case '}', ']':
			if len(closers) == 0 {
				return nil // the end of the enclosing value: this one was a literal
			}
			if closers[len(closers)-1] != c {
				return fmt.Errorf("unexpected %q at byte %d", c, s.i)
			}
			closers = closers[:len(closers)-1]
			s.i++
		case ',':
			if len(closers) == 0 {
				return nil
			}
			s.i++
			continue
		default:
			s.i++ // a literal's bytes, or white space
			for s.i < len(s.b) && !structural[s.b[s.i]] {
				s.i++
			}
			continue
		}
		if len(closers) == 0 {
			return nil
		}
	}
	return errTruncated
}

func kindName(c byte) string {
	switch c {
	case '{':
		return "object"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 0:
		return "end of input"
	default:
		return "number"
	}
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
