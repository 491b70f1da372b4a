package inspector

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-sec/tributary/internal/simulator/simctl"
)

const (
	hour = int64(time.Hour / time.Millisecond)
	day  = 24 * hour

	// catalogSize is the number of vulnerabilities per ecosystem; prime, so that any
	// stride walks the whole catalog and an asset never gets one vulnerability twice.
	catalogSize = 499
	// findingsPerAsset is the average number of findings on one asset.
	findingsPerAsset = 8
	// arenaChunk is the size of the blocks finding heads are written into.
	arenaChunk = 1 << 20
)

// edgeSpecs are the edge-case findings that open the dataset of Regions[0] (see the
// package documentation of Simulator.Findings).
var edgeSpecs = []struct {
	rtype  uint8
	score  int16 // tenths; -1 for no inspectorScore
	sev    uint8
	status uint8
}{
	{resEC2, 0, sevInformational, statusActive},
	{resECR, 1, sevLow, statusActive},
	{resLambda, 39, sevLow, statusActive},
	{resEC2, 40, sevMedium, statusActive},
	{resECR, 69, sevMedium, statusActive},
	{resLambda, 70, sevHigh, statusActive},
	{resEC2, 89, sevHigh, statusActive},
	{resECR, 90, sevCritical, statusActive},
	{resLambda, 100, sevCritical, statusActive},
	{resEC2, -1, sevHigh, statusActive},
	{resECR, -1, sevUntriaged, statusActive},
	{resLambda, 75, sevHigh, statusClosed},
	{resEC2, 53, sevMedium, statusSuppressed},
}

// generator builds the datasets of one Simulator, deterministically for a seed.
type generator struct {
	seed    uint64
	account string
	now     int64 // unix ms

	issues     []issue
	catalogs   [numEcosystems][]int32
	netIssues  []int32            // one per networkPorts entry
	codeIssues map[string][]int32 // by language
	edgeIssues []int32            // one per edgeSpecs entry, built on first use
	vectors    map[int16]cvssVector
	vulnIDs    map[string]struct{}

	arena []byte
}

// generate builds the datasets of every region of cfg, and returns the generator too:
// mutations add findings with it.
func generate(cfg Config) ([]*dataset, *generator) {
	g := &generator{
		seed:       uint64(cfg.Seed),
		account:    cfg.AccountID,
		now:        cfg.Now.UnixMilli(),
		codeIssues: make(map[string][]int32),
		vulnIDs:    make(map[string]struct{}),
	}
	g.buildCatalogs()
	shares := regionShares(cfg.Findings, len(cfg.Regions))
	out := make([]*dataset, len(cfg.Regions))
	for i, region := range cfg.Regions {
		out[i] = g.region(i, region, shares[i])
	}
	for _, d := range out {
		d.issues = g.issues
	}
	return out, g
}

// regionShares splits total findings over n regions, giving the first region at least
// enough for the edge cases.
func regionShares(total, n int) []int {
	shares := make([]int, n)
	first := total / n
	if first < len(edgeSpecs) {
		first = min(total, len(edgeSpecs))
	}
	shares[0] = first
	if n > 1 {
		rest := total - first
		for i := 1; i < n; i++ {
			shares[i] = rest / (n - 1)
			if i-1 < rest%(n-1) {
				shares[i]++
			}
		}
	} else {
		shares[0] = total
	}
	return shares
}

// rng returns a generator stream for a purpose, independent of the others.
func (g *generator) rng(stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(g.seed, 0x9e3779b97f4a7c15^stream))
}

func (g *generator) addIssue(is issue) int32 {
	g.issues = append(g.issues, is)
	return int32(len(g.issues) - 1)
}

// buildCatalogs builds the shared vulnerability, port and code-defect catalogs.
func (g *generator) buildCatalogs() {
	g.vectors = vectorsByScore()
	rng := g.rng(1)
	for eco := range numEcosystems {
		cat := make([]int32, catalogSize)
		for k := range cat {
			cat[k] = g.addIssue(g.packageIssue(rng, eco, -2, 0))
		}
		g.catalogs[eco] = cat
	}
	for _, p := range networkPorts {
		title := "Port " + strconv.Itoa(int(p.begin)) + " is reachable from an Internet Gateway - " + p.proto
		if p.begin != p.end {
			title = "Port range " + strconv.Itoa(int(p.begin)) + " - " + strconv.Itoa(int(p.end)) + " is reachable from an Internet Gateway - " + p.proto
		}
		g.netIssues = append(g.netIssues, g.addIssue(issue{
			ftype: typeNetwork, sev: p.severity, score: -1, epss: -1, created: g.now - 400*day,
			title: title, proto: p.proto, portLo: p.begin, portHi: p.end,
		}))
	}
	for _, d := range codeDetectors {
		for _, file := range codeFiles[d.lang] {
			g.codeIssues[d.lang] = append(g.codeIssues[d.lang], g.addIssue(issue{
				ftype: typeCode, sev: d.severity, score: -1, epss: -1, created: g.now - 400*day,
				title: d.cwes[0] + " - " + d.name, detector: d.lang + "/" + d.slug + "@v1.0", detName: d.name,
				detTags: d.tags, codeFile: file,
			}))
		}
	}
}

// regionGen holds the state of generating one region.
type regionGen struct {
	*generator
	rng     *rand.Rand
	d       *dataset
	vpcs    []vpc
	amis    map[string][]string // by platform
	lambdas map[string]int      // functions by base name, to keep names unique
	ids     [][2]uint64         // finding ids, parallel to d.recs
}

// region generates the dataset of one region with n findings.
func (g *generator) region(ri int, region string, n int) *dataset {
	rg := &regionGen{
		generator: g,
		rng:       g.rng(uint64(1000 + ri)),
		d:         &dataset{region: region, account: g.account},
		amis:      make(map[string][]string),
		lambdas:   make(map[string]int),
	}
	if n == 0 {
		return rg.d
	}
	edges := 0
	if ri == 0 && n >= len(edgeSpecs) {
		edges = len(edgeSpecs)
	}
	rest := n - edges
	counts := [3]int{rest * 5 / 10, rest * 3 / 10, 0}
	counts[resLambda] = rest - counts[resEC2] - counts[resECR]

	var byType [3][]int32
	var perType [3]int
	for t, c := range counts {
		perType[t] = max(1, (c+findingsPerAsset-1)/findingsPerAsset)
	}
	for i := 0; i <= perType[resEC2]/40; i++ {
		rg.vpcs = append(rg.vpcs, rg.newVPC(i))
	}
	rg.d.assets = make([]asset, 0, perType[0]+perType[1]+perType[2])
	for t := range byType {
		for range perType[t] {
			byType[t] = append(byType[t], rg.newAsset(uint8(t)))
		}
	}
	rg.d.recs = make([]record, 0, n)
	rg.ids = make([][2]uint64, 0, n)

	for k := range edges {
		spec := edgeSpecs[k]
		a := byType[spec.rtype][0]
		ii := rg.edgeIssue(k, int(rg.d.assets[a].cats[0]))
		var id [2]uint64
		id[1] = uint64(k + 1)
		rg.addRecord(id, ii, a, spec.status, g.issues[ii].score, true)
	}
	for t := range byType {
		assets := byType[t]
		for k := range counts[t] {
			var ai int
			if k < len(assets) {
				ai = k // every asset gets at least one finding
			} else {
				ai = int(float64(len(assets)) * math.Pow(rg.rng.Float64(), 1.6))
			}
			a := assets[ai]
			ii := rg.pickIssue(a, assets, ai)
			score := g.issues[ii].score
			if g.issues[ii].ftype == typeNetwork && rg.rng.IntN(10) < 3 {
				score = 0 // some network findings carry inspectorScore 0, most none
			}
			id := [2]uint64{rg.rng.Uint64(), rg.rng.Uint64()}
			if id[0]>>32 == 0 {
				id[0] |= 1 << 63 // edge-case ids sort first; keep random ones after them
			}
			rg.addRecord(id, ii, a, rg.drawStatus(), score, false)
		}
	}
	// Serve in findingArn order. The ARNs of a region differ only in their fixed-width hex
	// id, so ordering by the id orders them, far cheaper than comparing bytes.
	perm := make([]int32, len(rg.d.recs))
	for i := range perm {
		perm[i] = int32(i)
	}
	slices.SortFunc(perm, func(a, b int32) int {
		x, y := rg.ids[a], rg.ids[b]
		if c := cmp.Compare(x[0], y[0]); c != 0 {
			return c
		}
		return cmp.Compare(x[1], y[1])
	})
	sorted := make([]record, len(perm))
	for k, i := range perm {
		sorted[k] = rg.d.recs[i]
	}
	rg.d.recs = sorted
	return rg.d
}

// edgeIssue returns the issue of edge case k, built on first use from catalog eco.
func (g *generator) edgeIssue(k int, eco int) int32 {
	if g.edgeIssues == nil {
		g.edgeIssues = make([]int32, len(edgeSpecs))
		for i := range g.edgeIssues {
			g.edgeIssues[i] = -1
		}
	}
	if g.edgeIssues[k] < 0 {
		spec := edgeSpecs[k]
		g.edgeIssues[k] = g.addIssue(g.packageIssue(g.rng(uint64(100+k)), eco, spec.score, spec.sev))
	}
	return g.edgeIssues[k]
}

// pickIssue picks an issue for the next finding on assets[ai], moving to the next asset
// when that one has every issue of its catalogs already.
func (rg *regionGen) pickIssue(a int32, assets []int32, ai int) int32 {
	for tries := 0; ; tries++ {
		as := &rg.d.assets[a]
		switch {
		case as.rtype == resEC2 && as.netUsed < uint32(len(rg.netIssues)) && rg.rng.IntN(10) == 0:
			j := (as.start[0] + as.netUsed) % uint32(len(rg.netIssues))
			as.netUsed++
			return rg.netIssues[j]
		case as.rtype == resLambda && rg.rng.IntN(100) < 4:
			if _, lang := runtimeEcosystem(as.runtime); lang != "" {
				return pick(rg.rng, rg.codeIssues[lang])
			}
		}
		c := as.used / uint32(as.ncats)
		if c < catalogSize || tries == len(assets) {
			cat := as.used % uint32(as.ncats)
			as.used++
			j := (as.start[cat] + c*as.stride[cat]) % catalogSize
			return rg.catalogs[as.cats[cat]][j]
		}
		ai = (ai + 1) % len(assets)
		a = assets[ai]
	}
}

// drawStatus draws a finding status: mostly ACTIVE.
func (rg *regionGen) drawStatus() uint8 {
	switch n := rg.rng.IntN(100); {
	case n < 84:
		return statusActive
	case n < 94:
		return statusClosed
	default:
		return statusSuppressed
	}
}

// addRecord builds a finding's timestamps and head, and appends it to the dataset.
func (rg *regionGen) addRecord(id [2]uint64, ii, a int32, status uint8, score int16, edge bool) {
	rng := rg.rng
	is := &rg.issues[ii]
	as := &rg.d.assets[a]
	now := rg.now
	hi := now - hour
	lo := max(now-365*day, is.created, as.since)
	if lo > hi-day {
		lo = hi - day
	}
	first := lo + rng.Int64N(hi-lo)
	var last, updated int64
	if status == statusActive {
		last = max(first, now-rng.Int64N(7*day))
		updated = last + rng.Int64N(min(hour, now-last)+1)
	} else {
		last = first + rng.Int64N(hi-first+1)
		updated = last + rng.Int64N(now-last+1)
	}
	if rng.IntN(2) == 0 {
		first, last, updated = first/1000*1000, last/1000*1000, updated/1000*1000
	}
	sev := is.sev
	r := record{issue: ii, asset: a, first: first, last: last, updated: updated, score: score, status: status, sev: sev, edge: edge}

	if cap(rg.arena)-len(rg.arena) < 4096 {
		rg.arena = make([]byte, 0, arenaChunk)
	}
	start := len(rg.arena)
	b := rg.arena
	b = append(b, `{"awsAccountId":"`...)
	b = append(b, rg.account...)
	b = append(b, `","findingArn":"`...)
	arnStart := len(b)
	b = append(b, "arn:aws:inspector2:"...)
	b = append(b, rg.d.region...)
	b = append(b, ':')
	b = append(b, rg.account...)
	b = append(b, ":finding/"...)
	b = appendHex(b, id[0], 16)
	b = appendHex(b, id[1], 16)
	arnEnd := len(b)
	b = append(b, `","firstObservedAt":`...)
	b = appendEpoch(b, first)
	b = append(b, `,"lastObservedAt":`...)
	b = appendEpoch(b, last)
	b = append(b, `,"status":"`...)
	b = append(b, statusNames[status]...)
	b = append(b, `","updatedAt":`...)
	b = appendEpoch(b, updated)
	b = append(b, ',')
	switch is.ftype {
	case typeNetwork:
		b = rg.appendNetwork(b, is, as, score)
	case typeCode:
		b = rg.appendCode(b, is)
	}
	rg.arena = b
	r.head = b[start:len(b):len(b)]
	r.arn = b[arnStart:arnEnd:arnEnd]
	rg.d.recs = append(rg.d.recs, r)
	rg.ids = append(rg.ids, id)
}

// appendNetwork appends the members of a network-reachability finding.
func (rg *regionGen) appendNetwork(b []byte, is *issue, as *asset, score int16) []byte {
	ports := strconv.Itoa(int(is.portLo)) + "-" + strconv.Itoa(int(is.portHi))
	b = appendStringMember(b, "description", "On the instance "+as.id+", the port range "+ports+
		" is reachable from the InternetGateway "+as.igwID+" from an attached ENI "+as.eniID+".")
	if score >= 0 {
		b = appendKey(b, "inspectorScore")
		b = appendTenths(b, score)
		b = append(b, ',')
	}
	b = append(b, `"networkReachabilityDetails":{"networkPath":{"steps":[`...)
	steps := [4][2]string{
		{as.igwID, "AWS::EC2::InternetGateway"}, {as.aclID, "AWS::EC2::NetworkAcl"},
		{as.sgID, "AWS::EC2::SecurityGroup"}, {as.eniID, "AWS::EC2::NetworkInterface"},
	}
	for i, s := range steps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"componentId":"`...)
		b = append(b, s[0]...)
		b = append(b, `","componentType":"`...)
		b = append(b, s[1]...)
		b = append(b, `"}`...)
	}
	b = append(b, `]},"openPortRange":{"begin":`...)
	b = strconv.AppendInt(b, int64(is.portLo), 10)
	b = append(b, `,"end":`...)
	b = strconv.AppendInt(b, int64(is.portHi), 10)
	b = append(b, `},"protocol":"`...)
	b = append(b, is.proto...)
	b = append(b, `"},"remediation":{"recommendation":{"text":"You can restrict access to your instance by modifying the Security Groups or ACLs in the network path."}},`...)
	b = appendStringMember(b, "severity", severityNames[is.sev])
	b = appendStringMember(b, "title", is.title)
	return appendStringMember(b, "type", typeNames[typeNetwork])
}

// appendCode appends the members of a code-vulnerability finding.
func (rg *regionGen) appendCode(b []byte, is *issue) []byte {
	var det = codeDetectors[0]
	for _, d := range codeDetectors {
		if d.lang+"/"+d.slug+"@v1.0" == is.detector {
			det = d
			break
		}
	}
	startLine := 5 + rg.rng.IntN(300)
	b = append(b, `"codeVulnerabilityDetails":{"cwes":`...)
	b = appendStrings(b, det.cwes)
	b = append(b, ',')
	b = appendStringMember(b, "detectorId", is.detector)
	b = appendStringMember(b, "detectorName", is.detName)
	b = appendKey(b, "detectorTags")
	b = appendStrings(b, is.detTags)
	b = append(b, `,"filePath":{"endLine":`...)
	b = strconv.AppendInt(b, int64(startLine+rg.rng.IntN(6)), 10)
	b = append(b, ',')
	b = appendStringMember(b, "fileName", is.codeFile[strings.LastIndexByte(is.codeFile, '/')+1:])
	b = appendStringMember(b, "filePath", is.codeFile)
	b = appendKey(b, "startLine")
	b = strconv.AppendInt(b, int64(startLine), 10)
	b = append(b, `},"referenceUrls":`...)
	b = appendStrings(b, []string{"https://docs.aws.amazon.com/codeguru/detector-library/" + det.lang + "/" + det.slug + "/"})
	b = append(b, ',')
	b = appendStringMember(b, "ruleId", det.ruleID)
	b = trimComma(b)
	b = append(b, "},"...)
	b = appendStringMember(b, "description", det.description)
	b = append(b, `"remediation":{"recommendation":{"text":`...)
	b = simctl.AppendString(b, "Follow the guidance of the "+det.name+" detector to fix the code at the reported lines.")
	b = append(b, "}},"...)
	b = appendStringMember(b, "severity", severityNames[is.sev])
	b = appendStringMember(b, "title", is.title)
	return appendStringMember(b, "type", typeNames[typeCode])
}

// hexString returns n lower-case hex digits.
func hexString(rng *rand.Rand, n int) string {
	b := make([]byte, 0, n)
	for len(b) < n {
		b = appendHex(b, rng.Uint64(), min(16, n-len(b)))
	}
	return string(b)
}

// appendHex appends the low digits hex digits of v.
func appendHex(b []byte, v uint64, digits int) []byte {
	for i := digits - 1; i >= 0; i-- {
		b = append(b, "0123456789abcdef"[(v>>(4*uint(i)))&0xf])
	}
	return b
}

// pickWeighted draws one value of a weighted list.
func pickWeighted(rng *rand.Rand, ws []weighted) string {
	total := 0
	for _, w := range ws {
		total += w.weight
	}
	n := rng.IntN(total)
	for _, w := range ws {
		if n < w.weight {
			return w.value
		}
		n -= w.weight
	}
	return ws[0].value
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }
