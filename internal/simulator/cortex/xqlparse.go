package cortex

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tributary-sec/tributary/internal/simulator/simctl"
)

// The simulator runs a subset of XQL over its two vulnerability datasets:
//
//	dataset = va_cves | arrayexpand affected_hosts | filter severity = ENUM.CRITICAL or severity_score >= 7 |
//	    sort desc severity_score | fields name, cve_id, affected_hosts | limit 5000
//
// Stages: dataset = <name> (first, required), arrayexpand <array field>, fields <f>, ... (or
// *), filter <condition> (=, !=, <, <=, >, >=, contains, in (...), and, or, not, parentheses;
// literals "string", numbers, ENUM.NAME or a bare WORD, true, false, null), sort asc|desc <f>[, ...],
// limit <n>. Any other XQL stage is refused at start_xql_query with a parse error; an
// unknown dataset or field makes the query FAIL.

// value kinds.
const (
	vNull uint8 = iota
	vString
	vNumber
	vArray
)

type value struct {
	kind uint8
	s    string
	n    float64
	arr  []string
}

// rowRef is one result row: base row a of its table and, once the table's array column
// is expanded, element b of that array (-1 before).
type rowRef struct{ a, b int32 }

// column is one column of a dataset.
type column struct {
	name      string
	kind      uint8 // kind of the value before any arrayexpand
	timestamp bool  // epoch ms in get_query_results, a "2006-01-02 15:04:05 UTC" string in the stream
	value     func(d *dataset, r rowRef) value
}

// table is an XQL dataset the simulator serves.
type table struct {
	name   string
	cols   []column
	expand int // index of the column arrayexpand may expand
	rows   func(d *dataset) int
	// elemOff returns prefix sums of the expandable column's element counts per base row.
	elemOff func(d *dataset) []uint32
}

func str(s string) value       { return value{kind: vString, s: s} }
func num(n float64) value      { return value{kind: vNumber, n: n} }
func strs(ss []string) value   { return value{kind: vArray, arr: ss} }
func scoreValue(t int16) value { return optTenths(t) }

func optTenths(t int16) value {
	if t < 0 {
		return value{}
	}
	return num(tenths(t))
}

// vaCVE returns the catalog entry of va_cves row r.
func (d *dataset) vaCVE(r rowRef) *cve { return &d.cves[d.vaCVEs[r.a]] }

var vaCVEsTable = &table{
	name: "va_cves",
	cols: []column{
		{name: "name", kind: vString, value: func(d *dataset, r rowRef) value { return str(d.vaCVE(r).id) }},
		{name: "cve_id", kind: vString, value: func(d *dataset, r rowRef) value { return str(d.vaCVE(r).id) }},
		{name: "description", kind: vString, value: func(d *dataset, r rowRef) value { return str(d.vaCVE(r).description) }},
		{name: "severity", kind: vString, value: func(d *dataset, r rowRef) value { return str(severityNames[d.vaCVE(r).sev]) }},
		{name: "severity_score", kind: vNumber, value: func(d *dataset, r rowRef) value { return scoreValue(d.vaCVE(r).score) }},
		{name: "exploitability_score", kind: vNumber, value: func(d *dataset, r rowRef) value { return optTenths(d.vaCVE(r).exploit) }},
		{name: "impact_score", kind: vNumber, value: func(d *dataset, r rowRef) value { return optTenths(d.vaCVE(r).impact) }},
		{name: "affected_hosts", kind: vArray, value: func(d *dataset, r rowRef) value {
			hosts := d.hosts[d.hostOff[r.a]:d.hostOff[r.a+1]]
			if r.b >= 0 {
				return str(d.eps[hosts[r.b]].name)
			}
			names := make([]string, len(hosts))
			for k, i := range hosts {
				names[k] = d.eps[i].name
			}
			return strs(names)
		}},
		{name: "affected_hosts_count", kind: vNumber, value: func(d *dataset, r rowRef) value {
			return num(float64(d.hostOff[r.a+1] - d.hostOff[r.a]))
		}},
		{name: "affected_products", kind: vArray, value: func(d *dataset, r rowRef) value { return strs(d.vaCVE(r).products) }},
		{name: "os_type", kind: vArray, value: func(d *dataset, r rowRef) value { return strs(d.vaCVE(r).osTypes) }},
		{name: "type", kind: vString, value: func(d *dataset, r rowRef) value {
			if d.vaCVE(r).osLevel {
				return str("OPERATING_SYSTEM")
			}
			return str("APPLICATION")
		}},
		{name: "publication_date", kind: vNumber, timestamp: true, value: func(d *dataset, r rowRef) value {
			return num(float64(d.vaCVE(r).published))
		}},
	},
	expand:  7,
	rows:    func(d *dataset) int { return len(d.vaCVEs) },
	elemOff: func(d *dataset) []uint32 { return d.hostOff },
}

// vaEP returns the endpoint index of va_endpoints row r.
func (d *dataset) vaEP(r rowRef) int { return int(d.vaEPs[r.a]) }

var vaEndpointsTable = &table{
	name: "va_endpoints",
	cols: []column{
		{name: "endpoint_id", kind: vString, value: func(d *dataset, r rowRef) value { return str(d.eps[d.vaEP(r)].id) }},
		{name: "endpoint_name", kind: vString, value: func(d *dataset, r rowRef) value { return str(d.eps[d.vaEP(r)].name) }},
		{name: "cves", kind: vArray, value: func(d *dataset, r rowRef) value {
			i := d.vaEP(r)
			list := d.epCVEs[d.epOff[i]:d.epOff[i+1]]
			if r.b >= 0 {
				return str(d.cves[list[r.b]].id)
			}
			ids := make([]string, len(list))
			for k, c := range list {
				ids[k] = d.cves[c].id
			}
			return strs(ids)
		}},
		{name: "severity", kind: vString, value: func(d *dataset, r rowRef) value {
			_, sev := d.maxSeverity(d.vaEP(r))
			return str(severityNames[sev])
		}},
		{name: "severity_score", kind: vNumber, value: func(d *dataset, r rowRef) value {
			score, _ := d.maxSeverity(d.vaEP(r))
			return optTenths(score)
		}},
	},
	expand:  2,
	rows:    func(d *dataset) int { return len(d.vaEPs) },
	elemOff: func(d *dataset) []uint32 { return d.vaEPOff },
}

var tables = map[string]*table{vaCVEsTable.name: vaCVEsTable, vaEndpointsTable.name: vaEndpointsTable}

// parseError is an XQL syntax error, reported by start_xql_query as the API does.
type parseError struct {
	column  int // 0-based offset into the query
	message string
}

func (e *parseError) Error() string {
	b, _ := json.Marshal(struct {
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Message string `json:"message"`
	}{1, e.column, e.message})
	return string(b)
}

// stage is one parsed pipeline stage.
type stage struct {
	kind   string // arrayexpand, fields, filter, sort, limit
	at     int    // offset in the query, for messages
	fields []string
	sorts  []sortSpec
	cond   *cond
	limit  int
}

type sortSpec struct {
	field string
	desc  bool
}

// program is a parsed query.
type program struct {
	dataset string
	stages  []stage
}

// xqlStages are XQL stage keywords the simulator knows but does not run.
var xqlStages = []string{"alter", "bin", "call", "comp", "config", "dedup", "getrole", "iploc", "join",
	"replacenull", "target", "top", "transaction", "union", "view", "windowcomp", "arraymap", "fieldsfilter"}

// parseQuery parses the subset of XQL the simulator runs.
func parseQuery(q string) (*program, error) {
	parts, offs := splitPipes(q)
	prog := &program{}
	for k, part := range parts {
		at := offs[k] + len(part) - len(strings.TrimLeft(part, " \t\r\n"))
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, &parseError{at, "no viable alternative at input '|'"}
		}
		word, rest, _ := strings.Cut(part, " ")
		word = strings.ToLower(strings.TrimSpace(word))
		rest = strings.TrimSpace(rest)
		if k == 0 {
			name, ok := parseDataset(part)
			if w := strings.ToLower(firstWord(part)); !ok && (w == "preset" || w == "config") {
				return nil, &parseError{at, "the simulator does not support a query starting with " + w}
			}
			if !ok {
				return nil, &parseError{at, "mismatched input '" + firstWord(part) + "' expecting 'dataset'"}
			}
			prog.dataset = name
			continue
		}
		st := stage{kind: word, at: at}
		switch word {
		case "arrayexpand":
			if !isIdent(rest) {
				return nil, &parseError{at, "arrayexpand expects one field name, got '" + rest + "'"}
			}
			st.fields = []string{rest}
		case "fields":
			for f := range strings.SplitSeq(rest, ",") {
				f = strings.TrimSpace(f)
				if f != "*" && !isIdent(f) {
					return nil, &parseError{at, "no viable alternative at input 'fields " + rest + "'"}
				}
				st.fields = append(st.fields, f)
			}
		case "filter":
			c, err := parseCond(rest, at+len(part)-len(rest))
			if err != nil {
				return nil, err
			}
			st.cond = c
		case "sort":
			for spec := range strings.SplitSeq(rest, ",") {
				dir, f, _ := strings.Cut(strings.TrimSpace(spec), " ")
				f = strings.TrimSpace(f)
				dir = strings.ToLower(dir)
				if dir != "asc" && dir != "desc" || !isIdent(f) {
					return nil, &parseError{at, "sort expects asc|desc <field>, got '" + spec + "'"}
				}
				st.sorts = append(st.sorts, sortSpec{f, dir == "desc"})
			}
		case "limit":
			n, err := strconv.Atoi(rest)
			if err != nil || n < 1 {
				return nil, &parseError{at, "limit expects a positive integer, got '" + rest + "'"}
			}
			st.limit = n
		case "dataset":
			return nil, &parseError{at, "dataset must be the first stage"}
		default:
			if slices.Contains(xqlStages, word) {
				return nil, &parseError{at, "the simulator does not support the " + word + " stage"}
			}
			return nil, &parseError{at, "no viable alternative at input '|" + word + "'"}
		}
		prog.stages = append(prog.stages, st)
	}
	return prog, nil
}

// splitPipes splits q at the | not inside a string literal, returning each part's offset.
func splitPipes(q string) ([]string, []int) {
	var parts []string
	var offs []int
	start, quoted := 0, false
	for i := 0; i < len(q); i++ {
		switch c := q[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '|' && !quoted:
			parts, offs = append(parts, q[start:i]), append(offs, start)
			start = i + 1
		}
	}
	return append(parts, q[start:]), append(offs, start)
}

// parseDataset reads "dataset = name" (spaces optional, keyword case-insensitive).
func parseDataset(s string) (string, bool) {
	if len(s) < len("dataset") || !strings.EqualFold(s[:len("dataset")], "dataset") {
		return "", false
	}
	rest := strings.TrimSpace(s[len("dataset"):])
	rest, ok := strings.CutPrefix(rest, "=")
	if !ok {
		return "", false
	}
	name := strings.TrimSpace(rest)
	return name, isIdent(name)
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

// cond is a filter condition tree.
type cond struct {
	op          string // and, or, not, cmp
	left, right *cond
	field       string
	cmpOp       string  // =, !=, <, <=, >, >=, contains, in
	lits        []value // the literal (one) or the in list
}

// condParser is a recursive-descent parser of filter conditions.
type condParser struct {
	toks []token
	pos  int
	base int
}

type token struct {
	kind string // ident, string, number, op, (, ), ,
	text string
	at   int
}

func parseCond(s string, base int) (*cond, error) {
	toks, err := tokenize(s, base)
	if err != nil {
		return nil, err
	}
	p := &condParser{toks: toks, base: base}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, p.errAt("extraneous input '" + p.toks[p.pos].text + "'")
	}
	return c, nil
}

func (p *condParser) errAt(msg string) error {
	at := p.base
	if p.pos < len(p.toks) {
		at = p.toks[p.pos].at
	}
	return &parseError{at, msg}
}

func (p *condParser) peekWord(w string) bool {
	return p.pos < len(p.toks) && p.toks[p.pos].kind == "ident" && strings.EqualFold(p.toks[p.pos].text, w)
}

func (p *condParser) or() (*cond, error) {
	l, err := p.and()
	for err == nil && p.peekWord("or") {
		p.pos++
		var r *cond
		if r, err = p.and(); err == nil {
			l = &cond{op: "or", left: l, right: r}
		}
	}
	return l, err
}

func (p *condParser) and() (*cond, error) {
	l, err := p.unary()
	for err == nil && p.peekWord("and") {
		p.pos++
		var r *cond
		if r, err = p.unary(); err == nil {
			l = &cond{op: "and", left: l, right: r}
		}
	}
	return l, err
}

func (p *condParser) unary() (*cond, error) {
	if p.peekWord("not") {
		p.pos++
		c, err := p.unary()
		return &cond{op: "not", left: c}, err
	}
	if p.pos < len(p.toks) && p.toks[p.pos].kind == "(" {
		p.pos++
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.pos >= len(p.toks) || p.toks[p.pos].kind != ")" {
			return nil, p.errAt("missing ')'")
		}
		p.pos++
		return c, nil
	}
	return p.comparison()
}

func (p *condParser) comparison() (*cond, error) {
	if p.pos >= len(p.toks) || p.toks[p.pos].kind != "ident" {
		return nil, p.errAt("expecting a field name")
	}
	c := &cond{op: "cmp", field: p.toks[p.pos].text}
	p.pos++
	if p.pos >= len(p.toks) {
		return nil, p.errAt("expecting a comparison after '" + c.field + "'")
	}
	t := p.toks[p.pos]
	switch {
	case t.kind == "op":
		c.cmpOp = t.text
	case t.kind == "ident" && (strings.EqualFold(t.text, "contains") || strings.EqualFold(t.text, "in")):
		c.cmpOp = strings.ToLower(t.text)
	default:
		return nil, p.errAt("no viable alternative at input '" + t.text + "'")
	}
	p.pos++
	if c.cmpOp == "in" {
		if p.pos >= len(p.toks) || p.toks[p.pos].kind != "(" {
			return nil, p.errAt("in expects a parenthesised list")
		}
		p.pos++
		for {
			v, err := p.literal()
			if err != nil {
				return nil, err
			}
			c.lits = append(c.lits, v)
			if p.pos < len(p.toks) && p.toks[p.pos].kind == "," {
				p.pos++
				continue
			}
			if p.pos < len(p.toks) && p.toks[p.pos].kind == ")" {
				p.pos++
				return c, nil
			}
			return nil, p.errAt("missing ')'")
		}
	}
	v, err := p.literal()
	if err != nil {
		return nil, err
	}
	c.lits = []value{v}
	return c, nil
}

func (p *condParser) literal() (value, error) {
	if p.pos >= len(p.toks) {
		return value{}, p.errAt("expecting a value")
	}
	t := p.toks[p.pos]
	p.pos++
	switch t.kind {
	case "string":
		return str(t.text), nil
	case "number":
		n, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return value{}, &parseError{t.at, "bad number '" + t.text + "'"}
		}
		return num(n), nil
	case "ident":
		switch lower := strings.ToLower(t.text); {
		case strings.HasPrefix(t.text, "ENUM.") && len(t.text) > len("ENUM."):
			return str(t.text[len("ENUM."):]), nil
		case lower == "null":
			return value{}, nil
		case lower == "true" || lower == "false":
			return str(strings.ToUpper(lower)), nil
		default:
			// A bare word compares as the string it spells, as PANW's own queries
			// (filter endpoint_status = CONNECTED) rely on for enum fields.
			return str(t.text), nil
		}
	}
	p.pos--
	return value{}, p.errAt("no viable alternative at input '" + t.text + "'")
}

// tokenize splits a filter condition into tokens.
func tokenize(s string, base int) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == ',':
			out = append(out, token{string(c), string(c), base + i})
			i++
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, &parseError{base + i, "unterminated string literal"}
			}
			out = append(out, token{"string", b.String(), base + i})
			i = j + 1
		case c == '=' || c == '!' || c == '<' || c == '>':
			op := string(c)
			if i+1 < len(s) && s[i+1] == '=' {
				op += "="
			}
			if op == "!" {
				return nil, &parseError{base + i, "no viable alternative at input '!'"}
			}
			out = append(out, token{"op", op, base + i})
			i += len(op)
		case c == '-' || c == '.' || '0' <= c && c <= '9':
			j := i + 1
			for j < len(s) && (s[j] == '.' || '0' <= s[j] && s[j] <= '9') {
				j++
			}
			out = append(out, token{"number", s[i:j], base + i})
			i = j
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] == '.' || 'a' <= s[j] && s[j] <= 'z' || 'A' <= s[j] && s[j] <= 'Z' || '0' <= s[j] && s[j] <= '9') {
				j++
			}
			out = append(out, token{"ident", s[i:j], base + i})
			i = j
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return nil, &parseError{base + i, "token recognition error at: '" + string(r) + "'"}
		}
	}
	return out, nil
}

// result is an evaluated query: the rows, in order, and the columns to output.
type result struct {
	t        *table
	expanded bool
	proj     []int    // column indexes, in output order
	refs     []rowRef // explicit rows; nil when implicit
	n        int      // number of rows
	off      []uint32 // implicit expanded rows: the table's element offsets
}

// at returns row k of r.
func (r *result) at(k int) rowRef {
	switch {
	case r.refs != nil:
		return r.refs[k]
	case !r.expanded:
		return rowRef{int32(k), -1}
	}
	a := sort.Search(len(r.off)-1, func(i int) bool { return r.off[i+1] > uint32(k) })
	return rowRef{int32(a), int32(uint32(k) - r.off[a])}
}

// materialize makes r's rows explicit.
func (r *result) materialize() {
	if r.refs != nil {
		return
	}
	refs := make([]rowRef, r.n)
	if !r.expanded {
		for k := range refs {
			refs[k] = rowRef{int32(k), -1}
		}
	} else {
		k := 0
		for a := 0; a+1 < len(r.off) && k < r.n; a++ {
			for b := uint32(0); b < r.off[a+1]-r.off[a] && k < r.n; b++ {
				refs[k] = rowRef{int32(a), int32(b)}
				k++
			}
		}
	}
	r.refs = refs
}

// queryFailure is a semantic error: the query runs, then ends with status FAIL.
type queryFailure struct{ msg string }

func (e *queryFailure) Error() string { return e.msg }

func failf(format string, args ...any) error { return &queryFailure{fmt.Sprintf(format, args...)} }

// run evaluates prog over d.
func run(d *dataset, prog *program) (*result, error) {
	t, ok := tables[prog.dataset]
	if !ok {
		return nil, failf("Dataset %s does not exist or you do not have access to it", prog.dataset)
	}
	res := &result{t: t, n: t.rows(d)}
	visible := make([]int, len(t.cols))
	for k := range visible {
		visible[k] = k
	}
	lookup := func(name string) (int, error) {
		for _, k := range visible {
			if t.cols[k].name == name {
				return k, nil
			}
		}
		return -1, failf("Unknown field %s in dataset %s", name, t.name)
	}
	for _, st := range prog.stages {
		switch st.kind {
		case "arrayexpand":
			k, err := lookup(st.fields[0])
			if err != nil {
				return nil, err
			}
			if t.cols[k].kind != vArray || res.expanded && k == t.expand {
				return nil, failf("arrayexpand: field %s is not an array", st.fields[0])
			}
			if k != t.expand {
				return nil, failf("arrayexpand: the simulator expands only %s in dataset %s", t.cols[t.expand].name, t.name)
			}
			off := t.elemOff(d)
			if res.refs == nil {
				res.expanded, res.off, res.n = true, off, int(off[res.n])
				continue
			}
			var refs []rowRef
			for _, r := range res.refs {
				for b := uint32(0); b < off[r.a+1]-off[r.a]; b++ {
					refs = append(refs, rowRef{r.a, int32(b)})
				}
			}
			res.refs, res.n, res.expanded = refs, len(refs), true
		case "fields":
			var keep []int
			for _, f := range st.fields {
				if f == "*" {
					for _, k := range visible {
						if !slices.Contains(keep, k) {
							keep = append(keep, k)
						}
					}
					continue
				}
				k, err := lookup(f)
				if err != nil {
					return nil, err
				}
				if !slices.Contains(keep, k) {
					keep = append(keep, k)
				}
			}
			visible = keep
		case "filter":
			ev, err := compileCond(st.cond, lookup, t, res)
			if err != nil {
				return nil, err
			}
			res.materialize()
			kept := res.refs[:0:0]
			for _, r := range res.refs {
				if ev(d, r) {
					kept = append(kept, r)
				}
			}
			res.refs, res.n = kept, len(kept)
		case "sort":
			keys := make([]int, len(st.sorts))
			for j, sp := range st.sorts {
				k, err := lookup(sp.field)
				if err != nil {
					return nil, err
				}
				if t.cols[k].kind == vArray && !(res.expanded && k == t.expand) {
					return nil, failf("sort: field %s is an array", sp.field)
				}
				keys[j] = k
			}
			res.materialize()
			slices.SortStableFunc(res.refs, func(x, y rowRef) int {
				for j, k := range keys {
					a, b := t.cols[k].value(d, x), t.cols[k].value(d, y)
					c := compareValues(a, b)
					if st.sorts[j].desc && a.kind != vNull && b.kind != vNull {
						c = -c // nulls stay last either way
					}
					if c != 0 {
						return c
					}
				}
				return 0
			})
		case "limit":
			res.n = min(res.n, st.limit)
			if res.refs != nil {
				res.refs = res.refs[:res.n]
			}
		}
	}
	res.proj = visible
	return res, nil
}

// compareValues orders values: nulls last, numbers numerically, strings bytewise.
func compareValues(a, b value) int {
	switch {
	case a.kind == vNull && b.kind == vNull:
		return 0
	case a.kind == vNull:
		return 1
	case b.kind == vNull:
		return -1
	case a.kind == vNumber && b.kind == vNumber:
		return cmp.Compare(a.n, b.n)
	}
	return cmp.Compare(a.s, b.s)
}

type evaluator func(d *dataset, r rowRef) bool

// compileCond type-checks a condition against the visible columns.
func compileCond(c *cond, lookup func(string) (int, error), t *table, res *result) (evaluator, error) {
	switch c.op {
	case "and", "or":
		l, err := compileCond(c.left, lookup, t, res)
		if err != nil {
			return nil, err
		}
		r, err := compileCond(c.right, lookup, t, res)
		if err != nil {
			return nil, err
		}
		if c.op == "and" {
			return func(d *dataset, x rowRef) bool { return l(d, x) && r(d, x) }, nil
		}
		return func(d *dataset, x rowRef) bool { return l(d, x) || r(d, x) }, nil
	case "not":
		e, err := compileCond(c.left, lookup, t, res)
		if err != nil {
			return nil, err
		}
		return func(d *dataset, x rowRef) bool { return !e(d, x) }, nil
	}
	k, err := lookup(c.field)
	if err != nil {
		return nil, err
	}
	col := t.cols[k]
	kind := col.kind
	if res.expanded && k == t.expand {
		kind = vString
	}
	get := col.value
	if kind == vArray {
		if c.cmpOp != "contains" {
			return nil, failf("filter: field %s is an array; use contains", c.field)
		}
		lit := c.lits[0].s
		return func(d *dataset, x rowRef) bool {
			for _, s := range get(d, x).arr {
				if strings.Contains(s, lit) {
					return true
				}
			}
			return false
		}, nil
	}
	for _, l := range c.lits {
		if l.kind != vNull && l.kind != kind {
			return nil, failf("filter: cannot compare field %s with %s", c.field, describe(l))
		}
	}
	switch c.cmpOp {
	case "contains":
		if kind != vString {
			return nil, failf("filter: contains needs a string field, %s is not", c.field)
		}
		lit := c.lits[0].s
		return func(d *dataset, x rowRef) bool { return strings.Contains(get(d, x).s, lit) }, nil
	case "in":
		lits := c.lits
		return func(d *dataset, x rowRef) bool {
			v := get(d, x)
			for _, l := range lits {
				if v.kind != vNull && l.kind != vNull && compareValues(v, l) == 0 {
					return true
				}
			}
			return false
		}, nil
	}
	lit, op := c.lits[0], c.cmpOp
	return func(d *dataset, x rowRef) bool {
		v := get(d, x)
		if v.kind == vNull || lit.kind == vNull {
			isNull := v.kind == vNull
			switch op {
			case "=":
				return isNull && lit.kind == vNull
			case "!=":
				return isNull != (lit.kind == vNull)
			}
			return false
		}
		r := compareValues(v, lit)
		switch op {
		case "=":
			return r == 0
		case "!=":
			return r != 0
		case "<":
			return r < 0
		case "<=":
			return r <= 0
		case ">":
			return r > 0
		}
		return r >= 0
	}, nil
}

func describe(v value) string {
	switch v.kind {
	case vNumber:
		return "a number"
	case vString:
		return "a string"
	}
	return "null"
}

// appendRow appends row k of res as a JSON object. In the stream, timestamps are strings.
func appendRow(b []byte, d *dataset, res *result, k int, stream bool) []byte {
	r := res.at(k)
	b = append(b, '{')
	for j, ci := range res.proj {
		if j > 0 {
			b = append(b, ',')
		}
		col := &res.t.cols[ci]
		b = simctl.AppendString(b, col.name)
		b = append(b, ':')
		v := col.value(d, r)
		if stream && col.timestamp && v.kind == vNumber {
			v = str(time.UnixMilli(int64(v.n)).UTC().Format("2006-01-02 15:04:05") + " UTC")
		}
		b = appendValue(b, v)
	}
	return append(b, '}')
}

func appendValue(b []byte, v value) []byte {
	switch v.kind {
	case vString:
		return simctl.AppendString(b, v.s)
	case vNumber:
		return strconv.AppendFloat(b, v.n, 'f', -1, 64)
	case vArray:
		b = append(b, '[')
		for k, s := range v.arr {
			if k > 0 {
				b = append(b, ',')
			}
			b = simctl.AppendString(b, s)
		}
		return append(b, ']')
	}
	return append(b, "null"...)
}
