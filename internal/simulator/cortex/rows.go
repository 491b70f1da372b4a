package cortex

// CVERow is one va_cves row after "| arrayexpand affected_hosts": one CVE on one affected
// host name. JSON names are the XQL column names. Scores are null for a CVE not yet
// scored. In get_query_results publication_date is epoch milliseconds; the stream of
// get_query_results_stream carries it as a "2006-01-02 15:04:05 UTC" string instead.
type CVERow struct {
	Name                string   `json:"name"` // the CVE id, as cve_id
	CVEID               string   `json:"cve_id"`
	Description         string   `json:"description"`
	Severity            string   `json:"severity"` // CRITICAL, HIGH, MEDIUM or LOW
	SeverityScore       *float64 `json:"severity_score"`
	ExploitabilityScore *float64 `json:"exploitability_score"`
	ImpactScore         *float64 `json:"impact_score"`
	AffectedHosts       string   `json:"affected_hosts"`       // an endpoint name (names are shared by endpoints that share them)
	AffectedHostsCount  int      `json:"affected_hosts_count"` // distinct names the CVE affects
	AffectedProducts    []string `json:"affected_products"`
	OSType              []string `json:"os_type"`
	Type                string   `json:"type"` // OPERATING_SYSTEM or APPLICATION
	PublicationDate     int64    `json:"publication_date"`
}

// VAEndpointRow is one va_endpoints row: an endpoint with at least one CVE.
type VAEndpointRow struct {
	EndpointID    string   `json:"endpoint_id"`
	EndpointName  string   `json:"endpoint_name"`
	CVEs          []string `json:"cves"`
	Severity      string   `json:"severity"`       // the most severe label of its CVEs
	SeverityScore *float64 `json:"severity_score"` // the highest score of its CVEs
}

// CVERows returns the va_cves rows after arrayexpand affected_hosts, one per (CVE, host
// name), in the order "dataset = va_cves | arrayexpand affected_hosts" returns them: CVEs
// in catalog order, then hosts in endpoint order. The catalog opens with the
// severity_score edge cases 0 (LOW), 0.1, 3.9 (LOW), 4.0, 6.9 (MEDIUM), 7.0, 8.9 (HIGH),
// 9.0, 10 (CRITICAL) and one unscored CVE labelled HIGH; edge case k affects endpoint k
// mod Endpoints. Summing affected_hosts_count over the distinct CVEs gives len(CVERows()).
func (s *Simulator) CVERows() []CVERow {
	d := s.state.Load().d
	out := make([]CVERow, 0, len(d.hosts))
	for r, c := range d.vaCVEs {
		cv := &d.cves[c]
		hosts := d.hosts[d.hostOff[r]:d.hostOff[r+1]]
		row := CVERow{
			Name: cv.id, CVEID: cv.id, Description: cv.description, Severity: severityNames[cv.sev],
			SeverityScore: optFloat(cv.score), ExploitabilityScore: optFloat(cv.exploit), ImpactScore: optFloat(cv.impact),
			AffectedHostsCount: len(hosts), AffectedProducts: cv.products, OSType: cv.osTypes,
			Type: "APPLICATION", PublicationDate: cv.published,
		}
		if cv.osLevel {
			row.Type = "OPERATING_SYSTEM"
		}
		for _, i := range hosts {
			row.AffectedHosts = d.eps[i].name
			out = append(out, row)
		}
	}
	return out
}

// VAEndpointRows returns the va_endpoints rows in the order "dataset = va_endpoints"
// returns them (endpoint order).
func (s *Simulator) VAEndpointRows() []VAEndpointRow {
	d := s.state.Load().d
	out := make([]VAEndpointRow, 0, len(d.vaEPs))
	for _, i := range d.vaEPs {
		e := &d.eps[i]
		score, sev := d.maxSeverity(int(i))
		row := VAEndpointRow{EndpointID: e.id, EndpointName: e.name, Severity: severityNames[sev], SeverityScore: optFloat(score)}
		for _, c := range d.epCVEs[d.epOff[i]:d.epOff[i+1]] {
			row.CVEs = append(row.CVEs, d.cves[c].id)
		}
		out = append(out, row)
	}
	return out
}

func optFloat(t int16) *float64 {
	if t < 0 {
		return nil
	}
	f := tenths(t)
	return &f
}
