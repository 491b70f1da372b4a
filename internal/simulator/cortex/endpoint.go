package cortex

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// Endpoint is one endpoint object of a get_endpoint reply, field for field as the wire
// carries it (JSON names as the Cortex XDR documentation spells them). Slices that are
// nil are served as null: active_directory when the endpoint is not domain-joined,
// group_name for some older agents.
type Endpoint struct {
	EndpointID                   string                    `json:"endpoint_id"`
	EndpointName                 string                    `json:"endpoint_name"`
	EndpointType                 string                    `json:"endpoint_type"`
	EndpointStatus               string                    `json:"endpoint_status"`
	OSType                       string                    `json:"os_type"`
	OSVersion                    string                    `json:"os_version"`
	OperatingSystem              string                    `json:"operating_system"`
	IP                           []string                  `json:"ip"`
	IPv6                         []string                  `json:"ipv6"`
	PublicIP                     string                    `json:"public_ip"`
	MACAddress                   []string                  `json:"mac_address"`
	Users                        []string                  `json:"users"`
	Domain                       string                    `json:"domain"`
	Alias                        string                    `json:"alias"`
	FirstSeen                    int64                     `json:"first_seen"` // epoch milliseconds
	LastSeen                     int64                     `json:"last_seen"`
	InstallDate                  int64                     `json:"install_date"`
	ContentVersion               string                    `json:"content_version"`
	ContentStatus                string                    `json:"content_status"`
	ContentReleaseTimestamp      int64                     `json:"content_release_timestamp"`
	LastContentUpdateTime        int64                     `json:"last_content_update_time"`
	InstallationPackage          string                    `json:"installation_package"`
	ActiveDirectory              []string                  `json:"active_directory"`
	EndpointVersion              string                    `json:"endpoint_version"`
	IsIsolated                   string                    `json:"is_isolated"`
	IsolatedDate                 *int64                    `json:"isolated_date"`
	GroupName                    []string                  `json:"group_name"`
	OperationalStatus            string                    `json:"operational_status"`
	OperationalStatusDescription *string                   `json:"operational_status_description"`
	OperationalStatusDetails     []OperationalStatusDetail `json:"operational_status_details"`
	ScanStatus                   string                    `json:"scan_status"`
	AssignedPreventionPolicy     string                    `json:"assigned_prevention_policy"`
	AssignedExtensionsPolicy     string                    `json:"assigned_extensions_policy"`
	CloudProvider                string                    `json:"cloud_provider"`
	CloudRegion                  string                    `json:"cloud_region"`
	CloudProviderAccountID       string                    `json:"cloud_provider_account_id"`
	CloudInstanceID              string                    `json:"cloud_instance_id"`
	CloudID                      string                    `json:"cloud_id"`
	Tags                         EndpointTags              `json:"tags"`
}

// OperationalStatusDetail is one entry of operational_status_details.
type OperationalStatusDetail struct {
	Title  string `json:"title"`
	Reason string `json:"reason"`
}

// EndpointTags is the tags object of an endpoint: tags assigned in the tenant (server) and
// by the agent's configuration (endpoint).
type EndpointTags struct {
	ServerTags   []string `json:"server_tags"`
	EndpointTags []string `json:"endpoint_tags"`
}

// endpoint is the compact, generated state of one endpoint: what filters and sorts read,
// and what ties endpoints together (names). The rest of the wire object is derived from
// the seed and the endpoint's index when it is served, so 100,000 endpoints stay small.
type endpoint struct {
	id       string // endpoint_id, 32 hex digits
	name     string
	alias    string
	users    []string
	first    int64 // unix ms
	last     int64
	install  int64
	nameID   int32 // endpoints sharing a name share it
	idx      int32 // index at generation: seeds the stream the rest of the wire object is drawn from
	ip       [2]uint32
	publicIP uint32
	profile  uint8
	os       uint8
	status   uint8
	status0  uint8 // status at generation: what the render stream's draws depend on
	isolate  uint8
	scan     uint8
	nip      uint8
	group    int8 // index into the profile's groups; groupNull, groupEmpty
	domain   int8 // index into adDomains (Windows) or linuxDomains (Linux); -1 none
	cloud    bool
}

const (
	groupNull  = -1
	groupEmpty = -2
)

func (e *endpoint) platform() uint8 { return profiles[e.profile].platform }

// groupNames returns the group_name value of e: nil for null.
func (e *endpoint) groupNames() []string {
	switch e.group {
	case groupNull:
		return nil
	case groupEmpty:
		return []string{}
	}
	return []string{profiles[e.profile].groups[e.group]}
}

// ips returns the ip value of e.
func (e *endpoint) ips() []string {
	out := make([]string, e.nip)
	for k := range out {
		out[k] = formatIPv4(e.ip[k])
	}
	return out
}

// domainName returns the domain value of e.
func (e *endpoint) domainName() string {
	switch {
	case e.domain < 0 && e.platform() == platWindows:
		return "WORKGROUP"
	case e.domain < 0:
		return ""
	case e.platform() == platWindows:
		return adDomains[e.domain].fqdn
	}
	return linuxDomains[e.domain]
}

// build renders endpoint i of the dataset as the wire object. The fields not kept in the
// compact state are drawn from a stream of their own, seeded by the seed and the index the
// endpoint was generated at, so that an endpoint renders the same whatever mutations do to
// the others.
func (d *dataset) build(i int) Endpoint {
	e := &d.eps[i]
	p := &profiles[e.profile]
	osv := &p.oses[e.os]
	rng := rand.New(rand.NewPCG(d.seed, 0xd1b54a32d192ed03^uint64(e.idx)))
	out := Endpoint{
		EndpointID:               e.id,
		EndpointName:             e.name,
		EndpointType:             p.etype,
		EndpointStatus:           statusNames[e.status],
		OSType:                   osTypeNames[p.platform],
		OSVersion:                osv.version,
		OperatingSystem:          osv.name,
		IP:                       e.ips(),
		IPv6:                     []string{},
		PublicIP:                 formatIPv4(e.publicIP),
		Users:                    append([]string{}, e.users...),
		Domain:                   e.domainName(),
		Alias:                    e.alias,
		FirstSeen:                e.first,
		LastSeen:                 e.last,
		InstallDate:              e.install,
		InstallationPackage:      p.pkg,
		IsIsolated:               isolationNames[e.isolate],
		GroupName:                e.groupNames(),
		ScanStatus:               scanStatusNames[e.scan],
		AssignedPreventionPolicy: p.prevention,
		AssignedExtensionsPolicy: p.extensions,
		OperationalStatusDetails: []OperationalStatusDetail{},
		Tags:                     EndpointTags{ServerTags: []string{}, EndpointTags: []string{}},
	}

	nmac := 1
	if p.server && rng.IntN(4) == 0 {
		nmac = 2
	}
	for range nmac {
		ouis := macOUIs[p.platform]
		mac := []byte(ouis[rng.IntN(len(ouis))])
		for range 3 {
			mac = append(mac, ':')
			mac = appendHex(mac, uint64(rng.IntN(256)), 2)
		}
		out.MACAddress = append(out.MACAddress, string(mac))
	}
	if rng.IntN(10) < 3 {
		out.IPv6 = append(out.IPv6, "fe80::"+hex4(rng)+":"+hex4(rng)+":"+hex4(rng)+":"+hex4(rng))
		if p.server && rng.IntN(3) == 0 {
			out.IPv6 = append(out.IPv6, "2001:db8:"+hex4(rng)+":"+hex4(rng)+"::"+hex4(rng))
		}
	}

	// Agents that stopped reporting long ago run older agents and content. A mutation may
	// have moved last_seen past the generation time.
	age := max(0, d.now-e.last)
	agent := min(len(p.agents)-1, int(age/(60*day))+rng.IntN(2))
	out.EndpointVersion = p.agents[agent]
	weeks := age / (7 * day)
	out.ContentVersion = strconv.FormatInt(1500-weeks-int64(rng.IntN(3)), 10) + "-" + strconv.Itoa(10000+rng.IntN(90000))
	out.ContentReleaseTimestamp = e.last - rng.Int64N(7*day)
	out.LastContentUpdateTime = e.last - rng.Int64N(2*day)
	out.ContentStatus = "UP_TO_DATE"
	// Whether the stream draws depends on the generated status, not the current one, so
	// that a status a mutation sets leaves the fields drawn after as they were.
	if outdated := e.status0 != statusConnected || rng.IntN(10) == 0; outdated || e.status != statusConnected {
		out.ContentStatus = "OUTDATED"
	}

	op := operationalStates[pickIndex(rng, len(operationalStates), func(k int) int { return operationalStates[k].weight })]
	out.OperationalStatus = op.status
	if op.description != "" {
		desc := op.description
		out.OperationalStatusDescription = &desc
		for _, dt := range op.details {
			out.OperationalStatusDetails = append(out.OperationalStatusDetails, OperationalStatusDetail{Title: dt[0], Reason: dt[1]})
		}
	}
	if e.isolate != isoUnisolated {
		at := e.last - rng.Int64N(min(30*day, e.last-e.first)+1)
		out.IsolatedDate = &at
	}

	if p.platform == platWindows && e.domain >= 0 {
		out.ActiveDirectory = []string{"OU=" + adOUs[rng.IntN(len(adOUs))] + "," + adDomains[e.domain].dn}
	}
	if e.cloud {
		out.CloudProvider = "AWS"
		out.CloudRegion = cloudRegions[rng.IntN(len(cloudRegions))]
		out.CloudProviderAccountID = d.awsAccount
		id := "i-0" + string(appendHex(nil, rng.Uint64(), 16))
		out.CloudInstanceID, out.CloudID = id, id
	}
	if p.server && rng.IntN(10) < 4 {
		out.Tags.ServerTags = pickDistinct(rng, serverTags, 1+rng.IntN(2))
	}
	if !p.server && rng.IntN(100) < 15 {
		out.Tags.EndpointTags = pickDistinct(rng, endpointTags, 1)
	}
	return out
}

// pickDistinct returns n distinct values of xs in their order in xs.
func pickDistinct(rng *rand.Rand, xs []string, n int) []string {
	perm := rng.Perm(len(xs))[:min(n, len(xs))]
	out := make([]string, 0, len(perm))
	for k, x := range xs {
		for _, j := range perm {
			if j == k {
				out = append(out, x)
			}
		}
	}
	return out
}

func hex4(rng *rand.Rand) string { return string(appendHex(nil, uint64(rng.IntN(1<<16)), 4)) }

// appendHex appends the low digits hex digits of v.
func appendHex(b []byte, v uint64, digits int) []byte {
	for i := digits - 1; i >= 0; i-- {
		b = append(b, "0123456789abcdef"[(v>>(4*uint(i)))&0xf])
	}
	return b
}

func formatIPv4(v uint32) string {
	b := make([]byte, 0, 15)
	for k := 3; k >= 0; k-- {
		b = strconv.AppendUint(b, uint64(v>>(8*k)&0xff), 10)
		if k > 0 {
			b = append(b, '.')
		}
	}
	return string(b)
}

func ipv4(a, b, c, d int) uint32 { return uint32(a)<<24 | uint32(b)<<16 | uint32(c)<<8 | uint32(d) }

const (
	hour = int64(time.Hour / time.Millisecond)
	day  = 24 * hour
)
