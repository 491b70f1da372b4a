package cortexxdr

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
)

// StatusVulnerable is the vendor status of every finding: a va_cves row means the host
// is vulnerable now (the processor maps it to Active).
const StatusVulnerable = "vulnerable"

// Normalizer maps Cortex XDR raw records (see the package doc) to Device assets and
// findings. It is stateless and safe for concurrent use.
type Normalizer struct{}

var _ connector.Normalizer = Normalizer{}

// Normalize appends the asset of an endpoint record, or the finding of a vulnerability
// record; on error it appends nothing.
func (Normalizer) Normalize(raw *model.RawRecord, out *connector.Normalized) error {
	if raw == nil || out == nil {
		return errors.New("normalizing a Cortex XDR record: nil record or output")
	}
	switch raw.Kind {
	case KindEndpoint, KindEndpointRemoved:
		a, err := endpointAsset(raw)
		if err != nil {
			label := cmp.Or(endpointKeysOf(raw.Payload).id, raw.VendorKey)
			if label == "" {
				return fmt.Errorf("endpoint: %w", err)
			}
			return fmt.Errorf("endpoint %s: %w", label, err)
		}
		out.Assets = append(out.Assets, a)
	case KindVulnerability:
		fd, err := vulnerabilityFinding(raw)
		if err != nil {
			return fmt.Errorf("vulnerability %s: %w", raw.VendorKey, err)
		}
		out.Findings = append(out.Findings, fd)
	default:
		return fmt.Errorf("record kind %q is not one of %s, %s, %s", raw.Kind, KindEndpoint, KindEndpointRemoved, KindVulnerability)
	}
	return nil
}

// endpointAsset maps one get_endpoint endpoint to a Device.
func endpointAsset(raw *model.RawRecord) (model.Asset, error) {
	var (
		id, name, status, osType, osVersion, os, domain string
		ipv4, ipv6, macs, users                         []string
		first, last                                     time.Time
		tags                                            map[string]string
	)
	err := members(raw.Payload, func(member string, d *jsontext.Decoder) error {
		var err error
		switch member {
		case "endpoint_id":
			id, err = readString(d)
		case "endpoint_name":
			name, err = readString(d)
		case "endpoint_status":
			status, err = readString(d)
		case "os_type":
			osType, err = readString(d)
		case "os_version":
			osVersion, err = readString(d)
		case "operating_system":
			os, err = readString(d)
		case "domain":
			domain, err = readString(d)
		case "ip":
			ipv4, err = readStrings(d)
		case "ipv6":
			ipv6, err = readStrings(d)
		case "mac_address":
			macs, err = readStrings(d)
		case "users":
			users, err = readStrings(d)
		case "first_seen":
			first, err = readMillis(d)
		case "last_seen":
			last, err = readMillis(d)
		case "tags":
			tags, err = readTags(d)
		default:
			err = d.SkipValue()
		}
		return err
	})
	if err != nil {
		return model.Asset{}, err
	}
	if id == "" {
		return model.Asset{}, errors.New("endpoint_id is missing or empty")
	}
	a := model.Asset{
		ConnectorID:   raw.ConnectorID,
		ConnectorType: raw.ConnectorType,
		SyncID:        raw.SyncID,
		Scope:         raw.Scope,
		UID:           id,
		Class:         model.ClassDevice,
		// Without a name the id names it, so analysts never see an empty name.
		Name:            cmp.Or(name, id),
		ExternalID:      id,
		ProviderID:      id,
		OperatingSystem: os,
		IPv4:            ipv4,
		IPv6:            ipv6,
		FQDN:            domain,
		MACAddresses:    macs,
		FirstObservedAt: first,
		LastObservedAt:  last,
		VendorStatus:    status,
		ExternalTags:    tags,
		CustomAttributes: nonEmptyAttrs(
			"os_version", osVersion,
			"os_type", osType,
			"users", strings.Join(users, ","),
		),
		FetchedAt: raw.FetchedAt,
	}
	if raw.Kind == KindEndpointRemoved {
		a.ArchiveReason = "status"
	}
	return a, nil
}

// readTags reads an endpoint's tags into external tags. The documented shape,
// {"server_tags": [...], "endpoint_tags": [...]}, gives one tag per label with the
// list it came from as the value ({"prod": "server_tags"}); a member holding a string
// is a plain key and value; a bare list or a comma-separated string gives labels with
// empty values.
func readTags(d *jsontext.Decoder) (map[string]string, error) {
	tags := map[string]string{}
	switch k := d.PeekKind(); k {
	case '{':
		if _, err := d.ReadToken(); err != nil {
			return nil, err
		}
		for d.PeekKind() != '}' {
			tok, err := d.ReadToken()
			if err != nil {
				return nil, err
			}
			list := tok.String()
			switch d.PeekKind() {
			case '[':
				labels, err := readStrings(d)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", list, err)
				}
				for _, l := range labels {
					tags[l] = list
				}
			default:
				v, err := readString(d)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", list, err)
				}
				if v != "" {
					tags[list] = v
				}
			}
		}
		if _, err := d.ReadToken(); err != nil {
			return nil, err
		}
	case '[', '"', 'n':
		labels, err := readStrings(d)
		if err != nil {
			return nil, err
		}
		for _, l := range labels {
			for _, t := range strings.Split(l, ",") {
				if t = strings.TrimSpace(t); t != "" {
					tags[t] = ""
				}
			}
		}
	default:
		if err := d.SkipValue(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("want an object of tag lists, got %s", kindName(k))
	}
	if len(tags) == 0 {
		return nil, nil
	}
	return tags, nil
}

// vulnerabilityFinding maps one enveloped XQL row to a finding.
func vulnerabilityFinding(raw *model.RawRecord) (model.Finding, error) {
	var (
		host    string
		ids     []string
		row     vaRow
		sawRow  bool
		rowKind jsontext.Kind
	)
	err := members(raw.Payload, func(member string, d *jsontext.Decoder) error {
		var err error
		switch member {
		case "endpoint_name":
			host, err = readString(d)
		case "endpoint_ids":
			ids, err = readStrings(d)
		case "row":
			sawRow, rowKind = true, d.PeekKind()
			var v jsontext.Value
			if v, err = d.ReadValue(); err == nil {
				err = row.read(v)
			}
		default:
			err = d.SkipValue()
		}
		return err
	})
	switch {
	case err != nil:
		return model.Finding{}, err
	case !sawRow:
		return model.Finding{}, errors.New("the record has no row")
	case rowKind != '{':
		return model.Finding{}, fmt.Errorf("row: want an object, got %s", kindName(rowKind))
	case host == "":
		return model.Finding{}, errors.New("endpoint_name is empty: the row names no affected host")
	}
	row.finish()
	cve := cmp.Or(row.cveID, row.name)
	if cve == "" {
		return model.Finding{}, errors.New("row: neither cve_id nor name is set")
	}
	return model.Finding{
		ConnectorID:    raw.ConnectorID,
		ConnectorType:  raw.ConnectorType,
		SyncID:         raw.SyncID,
		Scope:          raw.Scope,
		UID:            host + "/" + cve,
		AssetUIDs:      ids,
		AssetClass:     model.ClassDevice,
		AssetName:      host,
		Name:           cmp.Or(row.name, cve),
		CVEs:           []string{cve},
		Description:    row.description,
		Score:          row.score,
		VendorSeverity: row.severity,
		VendorStatus:   StatusVulnerable,
		CustomAttributes: nonEmptyAttrs(
			"severity", row.severity,
			"affected_products", row.products,
			"type", row.typ,
			"exploitability_score", row.exploitability,
			"impact_score", row.impact,
			"publication_date", row.published,
		),
		FetchedAt: raw.FetchedAt,
	}, nil
}

// vaRow holds the va_cves columns a finding maps. The mapped ones must have their
// documented type; the custom attributes take any scalar or list.
type vaRow struct {
	cveID, name, description, severity string
	score                              *float64
	products, typ                      string
	exploitability, impact, published  string
}

func (r *vaRow) read(b []byte) error {
	return members(b, func(member string, d *jsontext.Decoder) error {
		var dst *string
		switch member {
		case "severity_score":
			var err error
			r.score, err = readNumber(d)
			return err
		case "cve_id":
			dst = &r.cveID
		case "name":
			dst = &r.name
		case "description":
			dst = &r.description
		case "severity":
			dst = &r.severity
		case "affected_products":
			dst = &r.products
		case "type":
			dst = &r.typ
		case "exploitability_score":
			dst = &r.exploitability
		case "impact_score":
			dst = &r.impact
		case "publication_date":
			dst = &r.published
		default:
			return d.SkipValue()
		}
		var err error
		switch dst {
		case &r.cveID, &r.name, &r.description, &r.severity:
			*dst, err = readString(d)
		default:
			*dst, err = readText(d)
		}
		// XQL writes a null as the text NULL.
		if *dst == "NULL" {
			*dst = ""
		}
		return err
	})
}

// finish turns the columns' vendor forms into the finding's: an ENUM severity may come
// back qualified (ENUM.CRITICAL); a publication date, as epoch milliseconds or XQL's
// text, becomes RFC 3339.
func (r *vaRow) finish() {
	r.severity = strings.TrimPrefix(r.severity, "ENUM.")
	if ms, err := strconv.ParseInt(r.published, 10, 64); err == nil && ms > 0 {
		r.published = time.UnixMilli(ms).UTC().Format(time.RFC3339)
		return
	}
	for _, layout := range xqlTimeLayouts {
		if t, err := time.Parse(layout, r.published); err == nil {
			r.published = t.UTC().Format(time.RFC3339)
			return
		}
	}
}

// readText reads any value as text for a custom attribute: a scalar as its text (null
// as ""), a list of strings comma-joined, anything else as its JSON.
func readText(d *jsontext.Decoder) (string, error) {
	switch d.PeekKind() {
	case '[', '{':
		v, err := d.ReadValue()
		if err != nil {
			return "", err
		}
		if list, err := readStrings(jsontext.NewDecoder(bytes.NewReader(v), decodeOptions)); err == nil {
			return strings.Join(list, ","), nil
		}
		return string(v), nil
	case 'n':
		_, err := d.ReadToken()
		return "", err
	default:
		tok, err := d.ReadToken()
		if err != nil {
			return "", err
		}
		return tok.String(), nil
	}
}

// nonEmptyAttrs builds custom attributes from key, value pairs, leaving out empty
// values; it returns nil when all are empty.
func nonEmptyAttrs(kv ...string) map[string]string {
	var m map[string]string
	for i := 1; i < len(kv); i += 2 {
		if kv[i] == "" {
			continue
		}
		if m == nil {
			m = make(map[string]string, len(kv)/2)
		}
		m[kv[i-1]] = kv[i]
	}
	return m
}
