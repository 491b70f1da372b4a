package cortex

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// dataset is the generated tenant: endpoints, the CVE catalog, which CVEs each endpoint
// has, and the va_cves / va_endpoints views of that.
type dataset struct {
	seed       uint64
	now        int64 // unix ms
	awsAccount string
	eps        []endpoint
	cves       []cve

	// CVEs of endpoint i: epCVEs[epOff[i]:epOff[i+1]], indexes into cves.
	epOff  []uint32
	epCVEs []uint16

	// va_cves: one row per CVE affecting at least one endpoint, in catalog order; the
	// affected host names of row r are the names of hosts[hostOff[r]:hostOff[r+1]]
	// (endpoint indexes, one per distinct name, in endpoint order).
	vaCVEs  []int32
	hostOff []uint32
	hosts   []int32

	// va_endpoints: one row per endpoint with at least one CVE, in endpoint order; the
	// CVEs of row k number vaEPOff[k+1] - vaEPOff[k].
	vaEPs   []int32
	vaEPOff []uint32

	filters filterCache // get_endpoint results over this version of the tenant
}

// cve is one entry of the vulnerability catalog.
type cve struct {
	id          string
	description string
	products    []string // affected_products
	osTypes     []string // os_type
	published   int64    // unix ms
	score       int16    // severity_score in tenths; -1 = null
	exploit     int16    // exploitability_score in tenths; -1 = null
	impact      int16    // impact_score in tenths; -1 = null
	sev         uint8
	osLevel     bool
	platforms   []uint8 // where endpoints may have it
}

// generate builds the dataset of cfg.
func generate(cfg Config) *dataset {
	d := &dataset{seed: uint64(cfg.Seed), now: cfg.Now.UnixMilli()}
	d.awsAccount = strconv.FormatUint(100000000000+uint64(cfg.Seed)%900000000000, 10)
	famStart := d.buildCatalog()
	d.buildEndpoints(cfg.Endpoints)
	d.assignCVEs(famStart)
	d.buildViews()
	return d
}

// rng returns a generator stream for a purpose, independent of the others.
func (d *dataset) rng(stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(d.seed, 0x9e3779b97f4a7c15^stream))
}

// buildCatalog generates the edge-case CVEs and then one catalog per family, and returns
// where each family's catalog starts in d.cves.
func (d *dataset) buildCatalog() [numFamilies]int {
	rng := d.rng(1)
	ids := make(map[string]bool)
	newID := func(published int64) string {
		year := time.UnixMilli(published).UTC().Year()
		for {
			id := "CVE-" + strconv.Itoa(year) + "-" + strconv.Itoa(1000+rng.IntN(49000))
			if !ids[id] {
				ids[id] = true
				return id
			}
		}
	}
	published := func() int64 { return d.now - 30*day - rng.Int64N(6*365*day) }

	// Edge cases are in applications every desktop and server platform runs, so that any
	// endpoint may carry them.
	var crossPlatform []cveProduct
	for _, pr := range familyProducts[famApps] {
		if len(pr.platforms) == len(allPlatforms) {
			crossPlatform = append(crossPlatform, pr)
		}
	}
	for _, edge := range edgeScores {
		c := d.newCVE(rng, pick(rng, crossPlatform), famApps, edge.score, edge.sev)
		c.platforms = []uint8{platWindows, platLinux, platMac, platAndroid}
		c.osTypes = osTypeNames[:]
		c.published = published()
		c.id = newID(c.published)
		d.cves = append(d.cves, c)
	}
	var start [numFamilies]int
	for f := range numFamilies {
		start[f] = len(d.cves)
		for range familySizes[f] {
			pr := familyProducts[f][rng.IntN(len(familyProducts[f]))]
			score := drawScore(rng)
			c := d.newCVE(rng, pr, f, score, severityForScore(score))
			c.published = published()
			c.id = newID(c.published)
			d.cves = append(d.cves, c)
		}
	}
	return start
}

// drawScore draws a CVSS score in tenths: 12% critical, 38% high, 40% medium, 10% low.
func drawScore(rng *rand.Rand) int16 {
	switch n := rng.IntN(100); {
	case n < 12:
		return int16(90 + rng.IntN(11))
	case n < 50:
		return int16(70 + rng.IntN(20))
	case n < 90:
		return int16(40 + rng.IntN(30))
	}
	return int16(1 + rng.IntN(39))
}

// newCVE builds a CVE of product pr in family f, without id and publication date.
func (d *dataset) newCVE(rng *rand.Rand, pr cveProduct, f int, score int16, sev uint8) cve {
	c := cve{score: score, sev: sev, osLevel: pr.osLevel, exploit: -1, impact: -1}
	if score >= 0 {
		c.exploit = min(39, score*4/10+int16(rng.IntN(6)))
		c.impact = max(0, min(60, score-c.exploit+int16(rng.IntN(5))-2))
		if score == 0 {
			c.exploit, c.impact = 0, 0
		}
	}
	c.platforms = pr.platforms
	if c.platforms == nil {
		c.platforms = []uint8{familyPlatform[f]}
	}
	for _, p := range c.platforms {
		c.osTypes = append(c.osTypes, osTypeNames[p])
	}
	version := ""
	if len(pr.versions) > 0 {
		version = pr.versions[rng.IntN(len(pr.versions))]
		c.products = []string{pr.name + " " + version}
	} else {
		// An OS component: the CVE affects some of the family's OS releases.
		var names []string
		for _, prof := range profiles {
			if prof.platform != familyPlatform[f] {
				continue
			}
			for _, o := range prof.oses {
				if !contains(names, o.product) {
					names = append(names, o.product)
				}
			}
		}
		c.products = pickDistinct(rng, names, 1+rng.IntN(3))
	}
	band := sev
	if score < 0 {
		band = sevHigh
	}
	microsoft := f == famWindows || strings.HasPrefix(pr.name, "Microsoft") || pr.name == ".NET Framework"
	if microsoft {
		titles := msImpactTitles[band]
		c.description = pr.name + " " + titles[rng.IntN(len(titles))]
	} else {
		what := pr.name
		if version != "" {
			what += " " + version
		}
		w := weaknesses[rng.IntN(len(weaknesses))]
		im := impacts[band][rng.IntN(len(impacts[band]))]
		c.description = w + " in " + what + " " + im + "."
	}
	return c
}

// buildEndpoints generates n endpoints. The first four are CONNECTED, DISCONNECTED, LOST
// and UNINSTALLED; endpoint 5 (the agent reinstalled on the LOST endpoint 2) shares its
// name; beyond those about 4% of endpoints reuse an earlier endpoint's name, as reimaged
// or reinstalled machines do.
func (d *dataset) buildEndpoints(n int) {
	rng := d.rng(2)
	d.eps = make([]endpoint, n)
	names := make(map[string]int32, n)
	counters := make(map[string]int)
	weights := func(k int) int { return profiles[k].weight }
	for i := range d.eps {
		e := &d.eps[i]
		e.idx = int32(i)
		dup := -1
		switch {
		case i == 5:
			dup = 2
		case i > 5 && rng.IntN(100) < 4:
			dup = rng.IntN(i)
		}
		if dup >= 0 {
			e.profile = d.eps[dup].profile
		} else {
			e.profile = uint8(pickIndex(rng, len(profiles), weights))
		}
		p := &profiles[e.profile]
		e.os = uint8(pickIndex(rng, len(p.oses), func(k int) int { return p.oses[k].weight }))
		switch {
		case i < int(numStatuses):
			e.status = uint8(i)
		case i == 5:
			e.status = statusConnected
		default:
			e.status = uint8(pickIndex(rng, int(numStatuses), func(k int) int { return statusWeights[k] }))
		}
		e.status0 = e.status
		d.drawTimes(rng, e)
		e.id = string(appendHex(appendHex(make([]byte, 0, 32), rng.Uint64(), 16), rng.Uint64(), 16))

		site := rng.IntN(len(sites))
		e.domain = -1
		switch p.platform {
		case platWindows:
			if rng.IntN(100) < 85 {
				e.domain = int8(rng.IntN(len(adDomains)))
			}
		case platLinux:
			if p.server && rng.IntN(100) < 45 {
				e.cloud = true
				e.domain = int8(2 + rng.IntN(2))
			} else if rng.IntN(2) == 0 {
				e.domain = int8(rng.IntN(2))
			}
		}
		d.drawAddresses(rng, e, site)

		first, last := pick(rng, firstNames), pick(rng, lastNames)
		if dup >= 0 {
			e.name, e.nameID = d.eps[dup].name, d.eps[dup].nameID
		} else {
			for tries := 0; ; tries++ {
				name := hostname(rng, e, p, site, first, last, counters)
				if tries > 3 {
					name += "-" + strconv.Itoa(i)
				}
				if _, taken := names[name]; !taken {
					e.name = name
					e.nameID = int32(len(names))
					names[name] = e.nameID
					break
				}
			}
		}
		e.users = users(rng, e, p, first, last)
		if !p.server && rng.IntN(100) < 5 {
			e.alias = first + "-" + strings.ToLower(p.etype[len("AGENT_TYPE_"):])
		}
		switch n := rng.IntN(1000); {
		case n < 10:
			e.isolate = isoIsolated
		case n < 13:
			e.isolate = isoPending
		}
		e.scan = uint8(pickIndex(rng, len(scanWeights), func(k int) int { return scanWeights[k] }))
		switch n := rng.IntN(100); {
		case n < 3:
			e.group = groupNull
		case n < 10:
			e.group = groupEmpty
		default:
			e.group = int8(rng.IntN(len(p.groups)))
		}
	}
}

// drawTimes draws first_seen, last_seen and install_date for e's status.
func (d *dataset) drawTimes(rng *rand.Rand, e *endpoint) {
	now := d.now
	switch e.status {
	case statusConnected:
		e.last = now - rng.Int64N(2*hour)
	case statusDisconnected:
		e.last = now - 2*hour - rng.Int64N(14*day)
	case statusLost:
		e.last = now - 30*day - rng.Int64N(370*day)
	default:
		e.last = now - day - rng.Int64N(300*day)
	}
	e.first = max(now-5*365*day, e.last-day-rng.Int64N(3*365*day))
	e.install = e.first - rng.Int64N(10*60*1000)
}

// drawAddresses draws the IPv4 and public addresses of e.
func (d *dataset) drawAddresses(rng *rand.Rand, e *endpoint, site int) {
	p := &profiles[e.profile]
	e.nip = 1
	switch {
	case e.cloud:
		e.ip[0] = ipv4(172, 31, rng.IntN(256), 1+rng.IntN(254))
	case p.server:
		e.ip[0] = ipv4(10, 100+site, rng.IntN(256), 1+rng.IntN(254))
		if rng.IntN(5) == 0 {
			e.nip = 2
			e.ip[1] = ipv4(10, 200+site, rng.IntN(256), 1+rng.IntN(254))
		}
	case p.platform == platMac && rng.IntN(10) < 4, p.platform == platAndroid:
		e.ip[0] = ipv4(192, 168, rng.IntN(8), 2+rng.IntN(250))
	default:
		e.ip[0] = ipv4(10, site*8+rng.IntN(8), rng.IntN(256), 1+rng.IntN(254))
	}
	switch rng.IntN(3) {
	case 0:
		e.publicIP = ipv4(203, 0, 113, 1+rng.IntN(254))
	case 1:
		e.publicIP = ipv4(198, 51, 100, 1+rng.IntN(254))
	default:
		e.publicIP = ipv4(192, 0, 2, 1+rng.IntN(254))
	}
}

// hostname draws a name in the conventions of e's fleet.
func hostname(rng *rand.Rand, e *endpoint, p *profile, site int, first, last string, counters map[string]int) string {
	next := func(prefix string) int {
		counters[prefix]++
		return counters[prefix]
	}
	pad := func(n, width int) string {
		s := strconv.Itoa(n)
		for len(s) < width {
			s = "0" + s
		}
		return s
	}
	switch {
	case p.platform == platWindows && !p.server:
		switch rng.IntN(4) {
		case 0, 1:
			return "DESKTOP-" + upperAlnum(rng, 7)
		case 2:
			return "LAPTOP-" + upperAlnum(rng, 7)
		}
		prefix := sites[site] + "-WS-"
		return prefix + pad(next(prefix), 5)
	case p.platform == platWindows:
		if rng.IntN(4) == 0 {
			return "WIN-" + upperAlnum(rng, 11)
		}
		prefix := sites[site] + "-" + strings.ToUpper(pick(rng, serverRoles)) + "-" + strings.ToUpper(pick(rng, envs)) + "-"
		return prefix + pad(next(prefix), 2)
	case p.platform == platLinux && e.cloud:
		return "ip-" + strings.ReplaceAll(formatIPv4(e.ip[0]), ".", "-")
	case p.platform == platLinux && p.server:
		prefix := pick(rng, linuxRoles) + "-" + pick(rng, envs) + "-"
		return prefix + pad(next(prefix), 3)
	case p.platform == platLinux:
		return first + "-" + pick(rng, []string{"thinkpad", "xps", "framework", "dev"})
	case p.platform == platMac:
		switch rng.IntN(3) {
		case 0:
			return strings.ToUpper(first[:1]) + first[1:] + "s-MacBook-Pro"
		case 1:
			return "MBP-" + strings.ToUpper(first[:1]+last)
		}
		return "C02" + upperAlnum(rng, 8)
	}
	return pick(rng, []string{"Pixel-8-", "SM-S918B-", "Pixel-7a-", "SM-A546B-"}) + string(appendHex(nil, uint64(rng.IntN(1<<16)), 4))
}

// users draws the users value of e.
func users(rng *rand.Rand, e *endpoint, p *profile, first, last string) []string {
	if e.status == statusUninstalled && rng.IntN(2) == 0 {
		return []string{}
	}
	switch p.platform {
	case platWindows:
		prefix := ""
		if e.domain >= 0 {
			prefix = adDomains[e.domain].netbios + `\`
		}
		if p.server {
			n := rng.IntN(3)
			out := make([]string, 0, n)
			for _, u := range pickDistinct(rng, serverUsers, n) {
				out = append(out, prefix+u)
			}
			return out
		}
		out := []string{prefix + first + "." + last}
		if rng.IntN(5) == 0 {
			out = append(out, prefix+pick(rng, firstNames)+"."+pick(rng, lastNames))
		}
		return out
	case platLinux:
		if p.server {
			return pickDistinct(rng, linuxUsers, rng.IntN(3))
		}
		return []string{first}
	case platMac:
		if rng.IntN(2) == 0 {
			return []string{first}
		}
		return []string{first + "." + last}
	}
	return []string{first + "." + last + "@acme.com"}
}

// assignCVEs draws the CVEs of every endpoint: about 12% have none, the others a
// long-tailed number from their platform's catalog and the applications catalog. Edge
// case k goes to endpoint k mod len(eps).
func (d *dataset) assignCVEs(famStart [numFamilies]int) {
	n := len(d.eps)
	rng := d.rng(3)
	d.epOff = make([]uint32, n+1)
	d.epCVEs = make([]uint16, 0, n*7)
	for i := range d.eps {
		e := &d.eps[i]
		plat := e.platform()
		for k := i; k < len(edgeScores) && n > 0; k += n {
			d.epCVEs = append(d.epCVEs, uint16(k))
		}
		var count int
		switch {
		case plat == platAndroid:
			count = rng.IntN(4)
		case rng.IntN(100) < 12:
			count = 0
		default:
			count = min(40, 1+int(rng.ExpFloat64()*6))
		}
		fam := platformFamily[plat]
		osStart, osSize := famStart[fam], familySizes[fam]
		appStart, appSize := famStart[famApps], familySizes[famApps]
		osPos, osStride := rng.IntN(osSize), 1+rng.IntN(osSize-1)
		appPos, appStride := rng.IntN(appSize), 1+rng.IntN(appSize-1)
		osUsed, appWalked := 0, 0
		for range count {
			if plat != platAndroid && rng.IntN(10) < 3 {
				// An application CVE: walk the catalog to the next one for this platform.
				for appWalked < appSize {
					c := appStart + (appPos+appWalked*appStride)%appSize
					appWalked++
					if slicesContains(d.cves[c].platforms, plat) {
						d.epCVEs = append(d.epCVEs, uint16(c))
						break
					}
				}
				continue
			}
			if osUsed < osSize {
				d.epCVEs = append(d.epCVEs, uint16(osStart+(osPos+osUsed*osStride)%osSize))
				osUsed++
			}
		}
		d.epOff[i+1] = uint32(len(d.epCVEs))
	}
}

// buildViews builds the va_cves rows (CVE → distinct affected host names) and the
// va_endpoints rows.
func (d *dataset) buildViews() {
	counts := make([]uint32, len(d.cves)+1)
	for _, c := range d.epCVEs {
		counts[c+1]++
	}
	for c := range d.cves {
		counts[c+1] += counts[c]
	}
	byCVE := make([]int32, len(d.epCVEs))
	fill := append([]uint32(nil), counts...)
	for i := range d.eps {
		for _, c := range d.epCVEs[d.epOff[i]:d.epOff[i+1]] {
			byCVE[fill[c]] = int32(i)
			fill[c]++
		}
	}
	// One host per distinct name: stamp[nameID] remembers the last CVE that listed it.
	names := 0
	for i := range d.eps {
		names = max(names, int(d.eps[i].nameID)+1)
	}
	stamp := make([]int32, names)
	for k := range stamp {
		stamp[k] = -1
	}
	d.hosts = make([]int32, 0, len(byCVE))
	d.hostOff = []uint32{0}
	for c := range d.cves {
		before := len(d.hosts)
		for _, i := range byCVE[counts[c]:counts[c+1]] {
			id := d.eps[i].nameID
			if stamp[id] == int32(c) {
				continue
			}
			stamp[id] = int32(c)
			d.hosts = append(d.hosts, i)
		}
		if len(d.hosts) > before {
			d.vaCVEs = append(d.vaCVEs, int32(c))
			d.hostOff = append(d.hostOff, uint32(len(d.hosts)))
		}
	}
	d.vaEPOff = []uint32{0}
	for i := range d.eps {
		if n := d.epOff[i+1] - d.epOff[i]; n > 0 {
			d.vaEPs = append(d.vaEPs, int32(i))
			d.vaEPOff = append(d.vaEPOff, d.vaEPOff[len(d.vaEPOff)-1]+n)
		}
	}
}

// maxSeverity returns the highest severity_score (tenths; -1 if none is scored) and the
// most severe label among endpoint i's CVEs.
func (d *dataset) maxSeverity(i int) (int16, uint8) {
	score, sev := int16(-1), sevLow
	for _, c := range d.epCVEs[d.epOff[i]:d.epOff[i+1]] {
		cv := &d.cves[c]
		if cv.score > score {
			score = cv.score
		}
		if cv.sev < sev {
			sev = cv.sev
		}
	}
	return score, sev
}

// upperAlnum draws n characters of [0-9A-Z].
func upperAlnum(rng *rand.Rand, n int) string {
	const chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, n)
	for k := range b {
		b[k] = chars[rng.IntN(len(chars))]
	}
	return string(b)
}

// pickIndex draws an index below n with the given weights.
func pickIndex(rng *rand.Rand, n int, weight func(int) int) int {
	total := 0
	for k := range n {
		total += weight(k)
	}
	r := rng.IntN(total)
	for k := range n {
		if r < weight(k) {
			return k
		}
		r -= weight(k)
	}
	return 0
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func slicesContains(xs []uint8, x uint8) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// tenths renders a score in tenths as a float64 (7.8, 10, 0).
func tenths(t int16) float64 { return float64(t) / 10 }
