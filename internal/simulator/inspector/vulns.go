package inspector

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-sec/tributary/internal/simulator/simctl"
)

// packageIssue builds one package vulnerability of an ecosystem. score -2 draws a
// random score; -1 means no score with severity sev; otherwise the score in tenths.
func (g *generator) packageIssue(rng *rand.Rand, eco int, score int16, sev uint8) issue {
	e := &ecosystems[eco]
	is := issue{ftype: typePackage, epss: -1, source: e.source}
	is.created = g.now - 30*day - rng.Int64N(4*365*day)
	year := time.UnixMilli(is.created).UTC().Year()
	if !e.os && rng.IntN(100) < 15 {
		is.source = "GITHUB_SEC_ADVISORY"
	}
	for {
		if is.source == "GITHUB_SEC_ADVISORY" && rng.IntN(3) == 0 {
			is.vulnID = ghsaID(rng)
		} else {
			is.vulnID = "CVE-" + strconv.Itoa(year) + "-" + strconv.Itoa(1000+rng.IntN(52000))
		}
		if _, dup := g.vulnIDs[is.vulnID]; !dup {
			break
		}
	}
	g.vulnIDs[is.vulnID] = struct{}{}

	name := e.packages[rng.IntN(len(e.packages))]
	is.pkgs = append(is.pkgs, makePackage(rng, eco, name))
	if (eco == ecoAmazon2 || eco == ecoAmazon2023) && rng.IntN(100) < 12 && !strings.HasSuffix(name, "-libs") {
		sibling := makePackage(rng, eco, name+"-devel")
		sibling.version, sibling.release, sibling.fixed, sibling.arch = is.pkgs[0].version, is.pkgs[0].release, is.pkgs[0].fixed, is.pkgs[0].arch
		is.pkgs = append(is.pkgs, sibling)
	}

	// Score and severity.
	var vec cvssVector
	exact := true
	switch {
	case score == -2 && rng.IntN(100) < 2:
		is.score, is.sev = -1, sevUntriaged
	case score == -2:
		vec = randomVector(rng)
		is.score = vec.score()
		is.sev = severityForScore(is.score)
	case score == -1:
		is.score, is.sev = -1, sev
	default:
		vec, exact = nearestVector(g.vectors, score)
		is.score, is.sev = score, severityForScore(score)
	}
	is.vendSev = vendorSeverity(is.source, is.sev, rng)

	// Exploitability, fix and EPSS.
	switch n := rng.IntN(100); {
	case n < 10:
		is.exploit = 1
	case n < 92:
		is.exploit = 2
	}
	switch n := rng.IntN(100); {
	case n < 70:
		is.fix = 1
	case n < 82:
		is.fix = 2
	case n < 87:
		is.fix = 3
	}
	if score != -2 { // edge cases always carry both, so the ingest filter keeps them
		is.exploit, is.fix = 2, 1
	}
	if is.fix == 2 {
		for i := range is.pkgs {
			is.pkgs[i].fixed = "NotAvailable"
		}
	}
	if is.score >= 0 && rng.IntN(100) < 90 {
		lo, hi := math.Log(0.0001), math.Log(0.2)
		if is.exploit == 1 {
			hi = math.Log(0.97)
		}
		is.epss = int32(math.Round(math.Exp(lo+rng.Float64()*(hi-lo)) * 1e5))
		is.epss = max(is.epss, 4)
	}
	if rng.IntN(100) < 5 {
		is.related = []string{"CVE-" + strconv.Itoa(year) + "-" + strconv.Itoa(1000+rng.IntN(52000))}
	}
	if len(is.pkgs) == 1 {
		is.title = is.vulnID + " - " + name
	} else {
		is.title = is.vulnID + " - " + is.pkgs[0].name + ", " + is.pkgs[1].name
	}

	// The shared fragment, members in alphabetical order.
	p := &is.pkgs[0]
	desc := fmt.Sprintf(descriptionTemplates[rng.IntN(len(descriptionTemplates))], name, p.version)
	updated := is.created + rng.Int64N(max(1, min(g.now, is.created+300*day)-is.created))
	sourceURL, refs, recURL := advisoryLinks(rng, eco, is.source, is.vulnID, year)

	b := make([]byte, 0, 1536)
	b = appendStringMember(b, "description", desc)
	if is.epss >= 0 {
		b = appendKey(b, "epss")
		b = append(b, `{"score":`...)
		b = strconv.AppendFloat(b, float64(is.epss)/1e5, 'f', -1, 64)
		b = append(b, "},"...)
	}
	if is.exploit != 0 {
		b = appendStringMember(b, "exploitAvailable", availNames[is.exploit])
	}
	if is.exploit == 1 {
		b = append(b, `"exploitabilityDetails":{"lastKnownExploitAt":`...)
		b = appendEpoch(b, (updated+rng.Int64N(max(1, g.now-updated)))/1000*1000)
		b = append(b, "},"...)
	}
	if is.fix != 0 {
		b = appendStringMember(b, "fixAvailable", availNames[is.fix])
	}
	if is.score >= 0 {
		b = appendKey(b, "inspectorScore")
		b = appendTenths(b, is.score)
		b = append(b, `,"inspectorScoreDetails":{"adjustedCvss":{"adjustments":[`...)
		if !exact {
			b = append(b, `{"metric":"AV","reason":"The score was adjusted for the environment of the resource."}`...)
		}
		b = append(b, `],"cvssSource":"NVD","score":`...)
		b = appendTenths(b, is.score)
		b = append(b, `,"scoreSource":"NVD","scoringVector":`...)
		b = simctl.AppendString(b, vec.String())
		b = append(b, `,"version":"3.1"}},`...)
	}
	b = append(b, `"packageVulnerabilityDetails":{"cvss":[`...)
	if is.score >= 0 {
		b = append(b, `{"baseScore":`...)
		b = appendTenths(b, vec.score())
		b = append(b, `,"scoringVector":`...)
		b = simctl.AppendString(b, vec.String())
		b = append(b, `,"source":"NVD","version":"3.1"}`...)
	}
	b = append(b, `],"referenceUrls":`...)
	b = appendStrings(b, refs)
	b = append(b, `,"relatedVulnerabilities":`...)
	b = appendStrings(b, append([]string{}, is.related...))
	b = append(b, ',')
	b = appendStringMember(b, "source", is.source)
	b = appendStringMember(b, "sourceUrl", sourceURL)
	b = appendKey(b, "vendorCreatedAt")
	b = appendEpoch(b, is.created/1000*1000)
	b = append(b, ',')
	if is.vendSev != "" {
		b = appendStringMember(b, "vendorSeverity", is.vendSev)
	}
	if rng.IntN(100) < 80 {
		b = appendKey(b, "vendorUpdatedAt")
		b = appendEpoch(b, updated/1000*1000)
		b = append(b, ',')
	}
	b = appendStringMember(b, "vulnerabilityId", is.vulnID)
	b = append(b, `"vulnerablePackages":[`...)
	for i := range is.pkgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPackage(b, &is.pkgs[i])
	}
	b = append(b, `]},"remediation":{"recommendation":{`...)
	if recURL != "" {
		b = appendStringMember(b, "Url", recURL)
	}
	recText := "None Provided"
	if eco == ecoWindows {
		recText = p.remediation
	}
	b = appendKey(b, "text")
	b = simctl.AppendString(b, recText)
	b = append(b, "}},"...)
	b = appendStringMember(b, "severity", severityNames[is.sev])
	b = appendStringMember(b, "title", is.title)
	b = appendStringMember(b, "type", typeNames[typePackage])
	is.frag = slices.Clip(b)
	return is
}

// appendPackage appends one vulnerablePackages entry.
func appendPackage(b []byte, p *vulnPackage) []byte {
	b = append(b, '{')
	if p.arch != "" {
		b = appendStringMember(b, "arch", p.arch)
	}
	b = appendKey(b, "epoch")
	b = strconv.AppendInt(b, int64(p.epoch), 10)
	b = append(b, ',')
	if p.filePath != "" {
		b = appendStringMember(b, "filePath", p.filePath)
	}
	b = appendStringMember(b, "fixedInVersion", p.fixed)
	b = appendStringMember(b, "name", p.name)
	b = appendStringMember(b, "packageManager", p.manager)
	if p.release != "" {
		b = appendStringMember(b, "release", p.release)
	}
	if p.remediation != "" {
		b = appendStringMember(b, "remediation", p.remediation)
	}
	if p.layerHash != "" {
		b = appendStringMember(b, "sourceLayerHash", p.layerHash)
	}
	b = appendKey(b, "version")
	b = simctl.AppendString(b, p.version)
	return append(b, '}')
}

// makePackage invents a vulnerable version of a package, and the version fixing it.
func makePackage(rng *rand.Rand, eco int, name string) vulnPackage {
	e := &ecosystems[eco]
	p := vulnPackage{name: name, manager: e.manager}
	major, minor, patch := rng.IntN(4)+1, rng.IntN(30), rng.IntN(20)
	ver := func(ma, mi, pa int) string {
		return strconv.Itoa(ma) + "." + strconv.Itoa(mi) + "." + strconv.Itoa(pa)
	}
	p.version = ver(major, minor, patch)
	fixedVer := ver(major, minor, patch+1+rng.IntN(3))
	if rng.IntN(4) == 0 {
		fixedVer = ver(major, minor+1, 0)
	}
	relA, relB := rng.IntN(200)+1, rng.IntN(20)
	switch eco {
	case ecoAmazon2, ecoAmazon2023:
		dist := "amzn2"
		if eco == ecoAmazon2023 {
			dist = "amzn2023"
		}
		if name == "kernel" {
			p.version = "5.10." + strconv.Itoa(100+rng.IntN(130))
			if eco == ecoAmazon2023 {
				p.version = "6.1." + strconv.Itoa(50+rng.IntN(80))
			}
			fixedVer = p.version[:strings.LastIndexByte(p.version, '.')+1] + strconv.Itoa(atoiTail(p.version)+2+rng.IntN(10))
		}
		p.release = strconv.Itoa(relA) + "." + dist + ".0." + strconv.Itoa(relB)
		if rng.IntN(20) == 0 {
			p.epoch = 1
		}
		p.fixed = strconv.Itoa(p.epoch) + ":" + fixedVer + "-" + strconv.Itoa(relA+1) + "." + dist + ".0." + strconv.Itoa(relB)
		p.arch = "X86_64"
		if rng.IntN(5) == 0 {
			p.arch = "AARCH64"
		}
		if eco == ecoAmazon2 {
			p.remediation = "yum update " + name
		} else {
			p.remediation = "dnf update " + name
		}
	case ecoUbuntu:
		p.release = "0ubuntu" + strconv.Itoa(relB+1) + "." + strconv.Itoa(relA%30)
		p.fixed = "0:" + p.version + "-0ubuntu" + strconv.Itoa(relB+1) + "." + strconv.Itoa(relA%30+1)
		p.arch = "AMD64"
		if rng.IntN(5) == 0 {
			p.arch = "ARM64"
		}
	case ecoDebian:
		p.release = strconv.Itoa(relB%4) + "+deb12u" + strconv.Itoa(relA%8+1)
		p.fixed = p.version + "-" + strconv.Itoa(relB%4) + "+deb12u" + strconv.Itoa(relA%8+2)
		p.arch = "AMD64"
		p.layerHash = "sha256:" + hexString(rng, 64)
	case ecoAlpine:
		p.release = "r" + strconv.Itoa(relB)
		p.fixed = fixedVer + "-r0"
		p.arch = "X86_64"
		p.layerHash = "sha256:" + hexString(rng, 64)
	case ecoWindows:
		build := 1000 + rng.IntN(1700)
		p.version = "10.0.20348." + strconv.Itoa(build)
		p.fixed = "10.0.20348." + strconv.Itoa(build+20+rng.IntN(300))
		p.remediation = "Install KB50" + strconv.Itoa(10000+rng.IntN(89999))
	case ecoPython:
		p.filePath = "site-packages/" + name + "-" + p.version + ".dist-info/METADATA"
		p.fixed = fixedVer
		p.remediation = "Update " + name + " to " + fixedVer
	case ecoNode:
		p.filePath = "node_modules/" + name + "/package.json"
		p.fixed = fixedVer
		p.remediation = "Update " + name + " to " + fixedVer
	case ecoJava:
		artifact := name[strings.IndexByte(name, ':')+1:]
		p.filePath = "app/lib/" + artifact + "-" + p.version + ".jar"
		p.fixed = fixedVer
	case ecoGo:
		if name == "stdlib" {
			p.version = "1." + strconv.Itoa(19+rng.IntN(4)) + "." + strconv.Itoa(rng.IntN(12))
			fixedVer = p.version[:strings.LastIndexByte(p.version, '.')+1] + strconv.Itoa(atoiTail(p.version)+1)
		} else {
			p.version = "v0." + strconv.Itoa(minor) + "." + strconv.Itoa(patch)
			fixedVer = "v0." + strconv.Itoa(minor+1) + ".0"
		}
		p.filePath = "usr/local/bin/app"
		p.fixed = fixedVer
	case ecoDotnet:
		p.filePath = "App.deps.json"
		p.fixed = fixedVer
	}
	return p
}

// atoiTail parses the number after the last dot of s.
func atoiTail(s string) int {
	n, _ := strconv.Atoi(s[strings.LastIndexByte(s, '.')+1:])
	return n
}

// advisoryLinks returns the sourceUrl, referenceUrls and recommendation Url (empty
// when the vendor gives none) of a vulnerability.
func advisoryLinks(rng *rand.Rand, eco int, source, vulnID string, year int) (sourceURL string, refs []string, recURL string) {
	y := strconv.Itoa(year)
	switch {
	case source == "GITHUB_SEC_ADVISORY":
		ghsa := vulnID
		if strings.HasPrefix(vulnID, "CVE-") {
			ghsa = ghsaID(rng)
		}
		u := "https://github.com/advisories/" + ghsa
		return u, []string{u}, ""
	case eco == ecoAmazon2:
		u := "https://alas.aws.amazon.com/AL2/ALAS-" + y + "-" + strconv.Itoa(1000+rng.IntN(1800)) + ".html"
		return "https://alas.aws.amazon.com/cve/html/" + vulnID + ".html", []string{u}, u
	case eco == ecoAmazon2023:
		u := "https://alas.aws.amazon.com/AL2023/ALAS2023-" + y + "-" + strconv.Itoa(100+rng.IntN(700)) + ".html"
		return "https://alas.aws.amazon.com/cve/html/" + vulnID + ".html", []string{u}, u
	case eco == ecoUbuntu:
		usn := "USN-" + strconv.Itoa(5000+rng.IntN(2000)) + "-1"
		return "https://ubuntu.com/security/" + vulnID, []string{"https://ubuntu.com/security/notices/" + usn}, ""
	case eco == ecoDebian:
		dsa := "dsa-" + strconv.Itoa(5000+rng.IntN(800))
		return "https://security-tracker.debian.org/tracker/" + vulnID, []string{"https://www.debian.org/security/" + y + "/" + dsa}, ""
	case eco == ecoAlpine:
		return "https://nvd.nist.gov/vuln/detail/" + vulnID, []string{"https://security.alpinelinux.org/vuln/" + vulnID}, ""
	case eco == ecoWindows:
		u := "https://msrc.microsoft.com/update-guide/vulnerability/" + vulnID
		return u, []string{u}, u
	}
	u := "https://nvd.nist.gov/vuln/detail/" + vulnID
	return u, []string{u}, ""
}

// vendorSeverity renders sev the way the vulnerability source labels it; sometimes the
// vendor rates one level away from NVD, as real vendors do.
func vendorSeverity(source string, sev uint8, rng *rand.Rand) string {
	if sev != sevUntriaged && sev != sevInformational && rng.IntN(100) < 12 {
		if sev > sevLow && rng.IntN(2) == 0 {
			sev--
		} else if sev < sevCritical {
			sev++
		}
	}
	var labels [6]string // by severity
	switch source {
	case "AMAZON_CVE":
		labels = [6]string{"Low", "Low", "Medium", "Important", "Critical", ""}
	case "UBUNTU_CVE":
		labels = [6]string{"negligible", "low", "medium", "high", "critical", "untriaged"}
	case "DEBIAN_CVE":
		labels = [6]string{"unimportant", "low", "medium", "high", "high", "not yet assigned"}
	case "GITHUB_SEC_ADVISORY":
		labels = [6]string{"LOW", "LOW", "MODERATE", "HIGH", "CRITICAL", ""}
	default:
		labels = [6]string{"NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL", ""}
	}
	return labels[sev]
}

// ghsaID invents a GitHub security advisory id.
func ghsaID(rng *rand.Rand) string {
	const alphabet = "23456789cfghjmpqrvwx"
	b := []byte("GHSA-xxxx-xxxx-xxxx")
	for _, i := range []int{5, 6, 7, 8, 10, 11, 12, 13, 15, 16, 17, 18} {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// osEcosystem maps a platform to the catalog of its OS packages.
func osEcosystem(platform string) int {
	switch {
	case platform == "AMAZON_LINUX_2":
		return ecoAmazon2
	case platform == "AMAZON_LINUX_2023":
		return ecoAmazon2023
	case strings.HasPrefix(platform, "UBUNTU"):
		return ecoUbuntu
	case strings.HasPrefix(platform, "DEBIAN"):
		return ecoDebian
	case strings.HasPrefix(platform, "ALPINE"):
		return ecoAlpine
	default:
		return ecoWindows
	}
}

// runtimeEcosystem maps a Lambda runtime to the catalog of its language packages and
// the language code scanning supports ("" when none).
func runtimeEcosystem(runtime string) (int, string) {
	switch {
	case strings.HasPrefix(runtime, "PYTHON"):
		return ecoPython, "python"
	case strings.HasPrefix(runtime, "NODEJS"):
		return ecoNode, "javascript"
	case strings.HasPrefix(runtime, "JAVA"):
		return ecoJava, "java"
	case strings.HasPrefix(runtime, "GO"):
		return ecoGo, ""
	default:
		return ecoDotnet, ""
	}
}
