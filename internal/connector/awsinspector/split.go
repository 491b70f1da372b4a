package awsinspector

import (
	"fmt"
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
// bytes, with the scanner the normalizer decodes findings with, reading of each finding
// only the top-level members the fetcher needs and slicing the rest out of body
// untouched. A finding that is valid JSON but not what the normalizer expects is kept
// for it to dead-letter; a page that is not valid JSON fails whole, since where its
// findings start and end is then unknown.
func splitPage(body []byte) ([]rawFinding, string, error) {
	d := wireDecoder{b: body}
	if d.peek() != '{' {
		return nil, "", fmt.Errorf("ListFindings response is not a JSON object (starts %q)", clipLiteral(body))
	}
	var (
		findings  []rawFinding
		nextToken string
	)
	err := d.object(func(name []byte) error {
		switch string(name) {
		case "nextToken":
			if d.peek() != '"' {
				return d.skip()
			}
			tok, err := d.unquoted()
			nextToken = string(tok)
			return err
		case "findings":
			var err error
			findings, err = d.pageFindings()
			return err
		}
		return d.skip()
	})
	if err == nil && !d.atEnd() {
		err = errSyntax
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading ListFindings response: %w at byte %d", err, d.pos)
	}
	return findings, nextToken, nil
}

func (d *wireDecoder) pageFindings() ([]rawFinding, error) {
	switch d.peek() {
	case 'n':
		return nil, d.skip()
	case '[':
	default:
		return nil, fmt.Errorf("findings is a JSON %s, want an array", jsonKind(d.peek()))
	}
	var findings []rawFinding
	err := d.array(func() error {
		d.peek()
		start := d.pos
		f, err := d.pageFinding()
		if err != nil {
			return fmt.Errorf("finding %d: %w", len(findings), err)
		}
		f.payload = d.b[start:d.pos:d.pos]
		findings = append(findings, f)
		return nil
	})
	return findings, err
}

// pageFinding reads one finding, noting the members the fetcher needs. A finding that
// is not an object is kept as it is: the normalizer dead-letters it.
func (d *wireDecoder) pageFinding() (rawFinding, error) {
	var f rawFinding
	if d.peek() != '{' {
		return f, d.skip()
	}
	err := d.object(func(name []byte) error {
		switch string(name) {
		case "findingArn":
			if d.peek() != '"' {
				return d.skip()
			}
			arn, err := d.unquoted()
			f.arn = string(arn)
			return err
		case "exploitAvailable":
			f.exploitable = d.peek() != 'n'
		case "fixAvailable":
			f.fixable = d.peek() != 'n'
		}
		return d.skip()
	})
	return f, err
}
