package cortex

// Vocabulary the generator draws from. Values are realistic, not real: CVE ids, hosts,
// users and addresses are invented per seed (addresses from documentation ranges where
// they are public).

// Endpoint statuses, as get_endpoint serves them and as filters name them.
const (
	statusConnected uint8 = iota
	statusDisconnected
	statusLost
	statusUninstalled
	numStatuses
)

var (
	statusNames       = [numStatuses]string{"CONNECTED", "DISCONNECTED", "LOST", "UNINSTALLED"}
	statusFilterNames = [numStatuses]string{"connected", "disconnected", "lost", "uninstalled"}
	statusWeights     = [numStatuses]int{70, 17, 9, 4}
)

// Platforms (os_type), as served and as the platform filter names them.
const (
	platWindows uint8 = iota
	platLinux
	platMac
	platAndroid
	numPlatforms
)

var (
	osTypeNames         = [numPlatforms]string{"AGENT_OS_WINDOWS", "AGENT_OS_LINUX", "AGENT_OS_MAC", "AGENT_OS_ANDROID"}
	platformFilterNames = [numPlatforms]string{"windows", "linux", "macos", "android"}
)

// Isolation states (is_isolated) and the isolate filter's values.
const (
	isoUnisolated uint8 = iota
	isoIsolated
	isoPending
)

var isolationNames = [...]string{"AGENT_UNISOLATED", "AGENT_ISOLATED", "AGENT_PENDING_ISOLATION"}

// Scan statuses: scan_status served values and the scan_status filter's values.
var (
	scanStatusNames = [...]string{"SCAN_STATUS_NONE", "SCAN_STATUS_PENDING", "SCAN_STATUS_IN_PROGRESS",
		"SCAN_STATUS_CANCELED", "SCAN_STATUS_ABORTED", "SCAN_STATUS_PENDING_CANCELLATION",
		"SCAN_STATUS_SUCCESS", "SCAN_STATUS_ERROR"}
	scanFilterNames = [...]string{"none", "pending", "in_progress", "canceled", "aborted",
		"pending_cancellation", "success", "error"}
	scanWeights = [...]int{62, 2, 2, 1, 1, 0, 30, 2}
)

// osVersion is one operating system an endpoint may run.
type osVersion struct {
	version string // os_version
	name    string // operating_system
	weight  int
	product string // how va_cves names it in affected_products
}

// profile is a kind of endpoint: its type, platform and the conventions of its fleet.
type profile struct {
	etype      string // endpoint_type
	platform   uint8
	server     bool
	weight     int
	pkg        string   // installation_package (the dist_name filter)
	prevention string   // assigned_prevention_policy
	extensions string   // assigned_extensions_policy
	groups     []string // group_name candidates
	oses       []osVersion
	agents     []string // endpoint_version candidates, newest first
}

var profiles = []profile{
	{etype: "AGENT_TYPE_WORKSTATION", platform: platWindows, weight: 55, pkg: "windows-workstations",
		prevention: "Windows Workstations", extensions: "Windows Default",
		groups: []string{"Windows Workstations", "Finance", "Engineering", "Sales", "HR", "Executives"},
		oses: []osVersion{
			{"10.0.19045", "Windows 10 Enterprise", 30, "Microsoft Windows 10 22H2"},
			{"10.0.19045", "Windows 10 Pro", 12, "Microsoft Windows 10 22H2"},
			{"10.0.19044", "Windows 10 Enterprise", 6, "Microsoft Windows 10 21H2"},
			{"10.0.22631", "Windows 11 Enterprise", 30, "Microsoft Windows 11 23H2"},
			{"10.0.22621", "Windows 11 Pro", 10, "Microsoft Windows 11 22H2"},
			{"10.0.26100", "Windows 11 Enterprise", 12, "Microsoft Windows 11 24H2"},
		},
		agents: []string{"8.5.0.12536", "8.4.1.12345", "8.3.0.11027", "7.9.101.31201"}},
	{etype: "AGENT_TYPE_SERVER", platform: platWindows, server: true, weight: 15, pkg: "windows-servers",
		prevention: "Windows Servers", extensions: "Windows Default",
		groups: []string{"Windows Servers", "Domain Controllers", "Production", "PCI"},
		oses: []osVersion{
			{"10.0.20348", "Windows Server 2022 Datacenter", 25, "Microsoft Windows Server 2022"},
			{"10.0.20348", "Windows Server 2022 Standard", 15, "Microsoft Windows Server 2022"},
			{"10.0.17763", "Windows Server 2019 Standard", 30, "Microsoft Windows Server 2019"},
			{"10.0.14393", "Windows Server 2016 Standard", 15, "Microsoft Windows Server 2016"},
			{"6.3.9600", "Windows Server 2012 R2 Standard", 5, "Microsoft Windows Server 2012 R2"},
			{"10.0.26100", "Windows Server 2025 Datacenter", 10, "Microsoft Windows Server 2025"},
		},
		agents: []string{"8.5.0.12536", "8.4.1.12345", "8.2.1.10344", "7.9.101.31201"}},
	{etype: "AGENT_TYPE_SERVER", platform: platLinux, server: true, weight: 17, pkg: "linux-servers",
		prevention: "Linux Servers", extensions: "Linux Default",
		groups: []string{"Linux Servers", "Production", "Staging", "Kubernetes", "PCI", "DMZ"},
		oses: []osVersion{
			{"22.04", "Ubuntu 22.04.4 LTS", 25, "Canonical Ubuntu 22.04"},
			{"20.04", "Ubuntu 20.04.6 LTS", 12, "Canonical Ubuntu 20.04"},
			{"24.04", "Ubuntu 24.04.1 LTS", 10, "Canonical Ubuntu 24.04"},
			{"9.3", "Red Hat Enterprise Linux 9.3 (Plow)", 12, "Red Hat Enterprise Linux 9"},
			{"8.9", "Red Hat Enterprise Linux 8.9 (Ootpa)", 8, "Red Hat Enterprise Linux 8"},
			{"8.9", "Rocky Linux 8.9 (Green Obsidian)", 5, "Rocky Linux 8"},
			{"2023", "Amazon Linux 2023", 12, "Amazon Linux 2023"},
			{"2", "Amazon Linux 2", 8, "Amazon Linux 2"},
			{"12", "Debian GNU/Linux 12 (bookworm)", 8, "Debian 12"},
		},
		agents: []string{"8.5.0.12536", "8.4.0.12168", "8.2.0.10010"}},
	{etype: "AGENT_TYPE_WORKSTATION", platform: platLinux, weight: 2, pkg: "linux-workstations",
		prevention: "Linux Workstations", extensions: "Linux Default",
		groups: []string{"Engineering", "Linux Workstations"},
		oses: []osVersion{
			{"22.04", "Ubuntu 22.04.4 LTS", 50, "Canonical Ubuntu 22.04"},
			{"24.04", "Ubuntu 24.04.1 LTS", 35, "Canonical Ubuntu 24.04"},
			{"40", "Fedora Linux 40 (Workstation Edition)", 15, "Fedora 40"},
		},
		agents: []string{"8.5.0.12536", "8.4.0.12168"}},
	{etype: "AGENT_TYPE_WORKSTATION", platform: platMac, weight: 10, pkg: "macos-workstations",
		prevention: "macOS Workstations", extensions: "macOS Default",
		groups: []string{"macOS Workstations", "Engineering", "Design", "Executives"},
		oses: []osVersion{
			{"14.4.1", "macOS 14.4.1 (Sonoma)", 35, "Apple macOS 14"},
			{"14.6.1", "macOS 14.6.1 (Sonoma)", 20, "Apple macOS 14"},
			{"15.1", "macOS 15.1 (Sequoia)", 30, "Apple macOS 15"},
			{"13.6.7", "macOS 13.6.7 (Ventura)", 15, "Apple macOS 13"},
		},
		agents: []string{"8.5.0.12536", "8.4.1.12345", "8.3.1.11500"}},
	{etype: "AGENT_TYPE_MOBILE", platform: platAndroid, weight: 1, pkg: "android",
		prevention: "Android Default", extensions: "Android Default",
		groups: []string{"Mobile Devices"},
		oses: []osVersion{
			{"14", "Android 14", 55, "Google Android 14"},
			{"13", "Android 13", 45, "Google Android 13"},
		},
		agents: []string{"8.4.0.12001", "8.2.0.10100"}},
}

// Domains Windows endpoints join; Linux servers sometimes carry a DNS domain.
var (
	adDomains = []struct{ fqdn, netbios, dn string }{
		{"acme.local", "ACME", "DC=acme,DC=local"},
		{"corp.acme.com", "CORP", "DC=corp,DC=acme,DC=com"},
		{"eu.acme.com", "ACME-EU", "DC=eu,DC=acme,DC=com"},
	}
	linuxDomains = []string{"prod.acme.internal", "stg.acme.internal", "ec2.internal", "eu-west-1.compute.internal"}
	adOUs        = []string{"Workstations", "Laptops", "Servers", "Finance", "Engineering", "Sales"}
)

var (
	firstNames = []string{"james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda",
		"william", "elizabeth", "david", "barbara", "richard", "susan", "joseph", "jessica", "thomas",
		"sarah", "charles", "karen", "wei", "aisha", "carlos", "fatima", "hiroshi", "ingrid", "olga",
		"pierre", "raj", "sofia", "yusuf", "zoe", "nina", "lars", "mateo", "priya", "kenji", "amara"}
	lastNames = []string{"smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis",
		"rodriguez", "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas",
		"taylor", "moore", "jackson", "martin", "lee", "perez", "thompson", "white", "harris", "clark",
		"nguyen", "kim", "patel", "mueller", "rossi", "dubois", "novak", "silva", "tanaka", "okafor"}
	linuxUsers   = []string{"root", "ubuntu", "ec2-user", "deploy", "ansible", "svc-backup", "postgres", "jenkins", "www-data"}
	serverUsers  = []string{"Administrator", "svc-sql", "svc-backup", "svc-iis", "svc-monitoring"}
	serverRoles  = []string{"app", "web", "db", "api", "cache", "queue", "file", "print", "mail", "build", "log", "vpn", "proxy"}
	linuxRoles   = []string{"web", "api", "db", "cache", "worker", "k8s-node", "kafka", "es", "jenkins", "gitlab", "bastion", "nfs", "redis", "nginx"}
	envs         = []string{"prod", "prd", "stg", "dev", "qa", "dr"}
	sites        = []string{"NYC", "LON", "FRA", "SFO", "SIN", "TOR", "AMS", "SYD"}
	cloudRegions = []string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"}
	serverTags   = []string{"prod", "pci", "dmz", "crown-jewel", "sox", "internet-facing", "legacy"}
	endpointTags = []string{"finance", "vip", "byod", "contractor", "kiosk", "lab", "remote"}
	// macOUIs are vendor prefixes of MAC addresses (VMware, Dell, HP, Lenovo, Apple, Intel, AWS).
	macOUIs = [numPlatforms][]string{
		platWindows: {"00:50:56", "f8:bc:12", "3c:52:82", "54:ee:75", "98:fa:9b", "00:15:5d"},
		platLinux:   {"00:50:56", "0a:1b:2c", "02:42:ac", "06:9f:41", "b8:ca:3a"},
		platMac:     {"a4:83:e7", "f0:18:98", "3c:22:fb", "8c:85:90"},
		platAndroid: {"64:a2:f9", "d0:17:c2", "f4:f5:e8"},
	}
)

// Vulnerability catalogs: each platform has one, and applications that run on several
// platforms have their own. Sizes are prime so that any stride walks a whole catalog and
// an endpoint never gets one CVE twice.
const (
	famWindows = iota
	famLinux
	famMac
	famAndroid
	famApps
	numFamilies
)

var familySizes = [numFamilies]int{211, 307, 101, 53, 149}

// cveProduct is a component CVEs are found in.
type cveProduct struct {
	name      string
	osLevel   bool    // an OS component (va_cves type OPERATING_SYSTEM) rather than an application
	platforms []uint8 // where it runs; nil = the family's platform
	versions  []string
}

var (
	allPlatforms     = []uint8{platWindows, platLinux, platMac}
	desktopPlatforms = []uint8{platWindows, platMac}
)

var familyProducts = [numFamilies][]cveProduct{
	famWindows: {
		{name: "Windows Kernel", osLevel: true}, {name: "Windows SMB", osLevel: true},
		{name: "Windows Print Spooler", osLevel: true}, {name: "Windows Remote Desktop Services", osLevel: true},
		{name: "Windows Hyper-V", osLevel: true}, {name: "Windows Win32k", osLevel: true},
		{name: "Windows TCP/IP", osLevel: true}, {name: "Windows NTLM", osLevel: true},
		{name: "Windows Kerberos", osLevel: true}, {name: "Windows Common Log File System Driver", osLevel: true},
		{name: "Windows LDAP", osLevel: true}, {name: "Microsoft Message Queuing", osLevel: true},
		{name: "Windows Installer", osLevel: true}, {name: "Windows DWM Core Library", osLevel: true},
		{name: "Windows CryptoAPI", osLevel: true}, {name: "Windows Secure Boot", osLevel: true},
		{name: "Windows MSHTML Platform", osLevel: true}, {name: "Windows SmartScreen", osLevel: true},
		{name: ".NET Framework", versions: []string{"4.8", "4.8.1"}},
		{name: "Microsoft Office", versions: []string{"2019", "LTSC 2021", "365 16.0.17328"}},
	},
	famLinux: {
		{name: "linux-kernel", osLevel: true, versions: []string{"5.15.0-101", "6.1.0-18", "5.14.0-362", "6.8.0-45"}},
		{name: "openssl", versions: []string{"3.0.2", "1.1.1k", "3.0.7", "3.2.1"}},
		{name: "glibc", osLevel: true, versions: []string{"2.35", "2.34", "2.28", "2.36"}},
		{name: "sudo", versions: []string{"1.9.9", "1.8.29", "1.9.13p3"}},
		{name: "openssh", versions: []string{"8.9p1", "9.3p1", "8.0p1", "9.6p1"}},
		{name: "curl", versions: []string{"7.81.0", "8.5.0", "7.61.1"}},
		{name: "systemd", osLevel: true, versions: []string{"249.11", "252.22", "239"}},
		{name: "bash", versions: []string{"5.1", "5.2.15", "4.4.20"}},
		{name: "xz-utils", versions: []string{"5.2.5", "5.4.1", "5.6.0"}},
		{name: "libxml2", versions: []string{"2.9.13", "2.10.3", "2.9.7"}},
		{name: "zlib", versions: []string{"1.2.11", "1.2.13", "1.3"}},
		{name: "polkit", versions: []string{"0.105", "0.120", "121"}},
		{name: "git", versions: []string{"2.34.1", "2.39.2", "2.43.0"}},
		{name: "python3", versions: []string{"3.10.12", "3.9.18", "3.11.2", "3.6.8"}},
		{name: "perl", versions: []string{"5.34.0", "5.36.0", "5.26.3"}},
		{name: "vim", versions: []string{"8.2.3995", "9.0.1378", "8.0.1763"}},
		{name: "bind9", versions: []string{"9.18.18", "9.16.23", "9.11.36"}},
		{name: "nginx", versions: []string{"1.18.0", "1.22.1", "1.24.0"}},
		{name: "apache2", versions: []string{"2.4.52", "2.4.57", "2.4.37"}},
		{name: "libwebp", versions: []string{"1.2.2", "1.2.4", "1.3.0"}},
		{name: "containerd", versions: []string{"1.6.12", "1.7.2"}},
		{name: "docker-ce", versions: []string{"24.0.5", "20.10.21"}},
	},
	famMac: {
		{name: "macOS Kernel", osLevel: true}, {name: "WebKit", osLevel: true}, {name: "Safari"},
		{name: "CoreGraphics", osLevel: true}, {name: "ImageIO", osLevel: true}, {name: "Gatekeeper", osLevel: true},
		{name: "AppleMobileFileIntegrity", osLevel: true}, {name: "Kerberos v5 PAM module", osLevel: true},
		{name: "CoreMedia", osLevel: true}, {name: "Find My", osLevel: true}, {name: "Bluetooth", osLevel: true},
	},
	famAndroid: {
		{name: "Android Framework", osLevel: true}, {name: "Android System", osLevel: true},
		{name: "Android Media Framework", osLevel: true}, {name: "Qualcomm closed-source components", osLevel: true},
		{name: "Android Kernel", osLevel: true}, {name: "MediaTek components", osLevel: true},
	},
	famApps: {
		{name: "Google Chrome", platforms: allPlatforms, versions: []string{"122.0.6261.94", "124.0.6367.60", "129.0.6668.58"}},
		{name: "Mozilla Firefox", platforms: allPlatforms, versions: []string{"115.9.1esr", "124.0.2", "128.3.0esr"}},
		{name: "Microsoft Edge", platforms: desktopPlatforms, versions: []string{"122.0.2365.80", "128.0.2739.42"}},
		{name: "Zoom Workplace", platforms: desktopPlatforms, versions: []string{"5.17.11", "6.0.2", "6.1.6"}},
		{name: "Oracle Java SE", platforms: allPlatforms, versions: []string{"8u401", "11.0.22", "17.0.10", "21.0.2"}},
		{name: "Adobe Acrobat Reader", platforms: desktopPlatforms, versions: []string{"23.008.20470", "24.001.20604"}},
		{name: "7-Zip", platforms: []uint8{platWindows}, versions: []string{"23.01", "22.01", "19.00"}},
		{name: "Notepad++", platforms: []uint8{platWindows}, versions: []string{"8.6.2", "8.5.8"}},
		{name: "VLC media player", platforms: allPlatforms, versions: []string{"3.0.18", "3.0.20"}},
		{name: "Slack", platforms: allPlatforms, versions: []string{"4.36.140", "4.38.125"}},
		{name: "Node.js", platforms: allPlatforms, versions: []string{"18.19.1", "20.11.1", "16.20.2"}},
		{name: "Docker Desktop", platforms: desktopPlatforms, versions: []string{"4.27.2", "4.25.0"}},
		{name: "WinRAR", platforms: []uint8{platWindows}, versions: []string{"6.23", "6.11"}},
		{name: "Python", platforms: allPlatforms, versions: []string{"3.11.8", "3.12.2", "3.8.10"}},
		{name: "Apache Log4j", platforms: allPlatforms, versions: []string{"2.14.1", "2.16.0", "2.17.0"}},
	},
}

// familyPlatform is the platform of an OS family.
var familyPlatform = [numFamilies]uint8{famWindows: platWindows, famLinux: platLinux, famMac: platMac, famAndroid: platAndroid}

// platformFamily is the OS family of a platform.
var platformFamily = [numPlatforms]int{platWindows: famWindows, platLinux: famLinux, platMac: famMac, platAndroid: famAndroid}

// Description vocabulary: weaknesses and impacts by severity band (critical, high, medium, low).
var (
	weaknesses = []string{"Use-after-free", "Heap-based buffer overflow", "Out-of-bounds read", "Out-of-bounds write",
		"Improper input validation", "Integer overflow", "Race condition", "Type confusion",
		"Improper privilege management", "Path traversal", "Improper authentication",
		"Improper certificate validation", "NULL pointer dereference", "Missing authorization",
		"Deserialization of untrusted data", "Improper neutralization of special elements"}
	impacts = [4][]string{
		{"allows a remote, unauthenticated attacker to execute arbitrary code via crafted network requests",
			"allows a remote attacker to take complete control of the affected system without user interaction"},
		{"allows a local attacker to elevate privileges to SYSTEM or root",
			"allows a remote attacker to execute arbitrary code via a crafted file opened by the user",
			"allows an authenticated attacker to execute arbitrary commands"},
		{"allows an attacker to disclose sensitive information from process memory",
			"allows a remote attacker to cause a denial of service via a crafted request",
			"allows an attacker to bypass a security feature via a crafted document"},
		{"allows a local attacker to obtain limited information via a timing side channel",
			"allows a local user to cause a minor denial of service",
			"may allow an attacker to spoof user-interface elements"},
	}
	msImpactTitles = [4][]string{
		{"Remote Code Execution Vulnerability"},
		{"Elevation of Privilege Vulnerability", "Remote Code Execution Vulnerability"},
		{"Information Disclosure Vulnerability", "Denial of Service Vulnerability", "Security Feature Bypass Vulnerability"},
		{"Information Disclosure Vulnerability", "Spoofing Vulnerability"},
	}
)

// Severity labels (va_cves severity) by band.
const (
	sevCritical uint8 = iota
	sevHigh
	sevMedium
	sevLow
)

var severityNames = [...]string{"CRITICAL", "HIGH", "MEDIUM", "LOW"}

// edgeScores are the severity_score edge cases (in tenths; -1 = null) that open the CVE
// catalog, each with its label, and each affecting endpoint k mod Endpoints.
var edgeScores = []struct {
	score int16
	sev   uint8
}{
	{0, sevLow}, {1, sevLow}, {39, sevLow}, {40, sevMedium}, {69, sevMedium},
	{70, sevHigh}, {89, sevHigh}, {90, sevCritical}, {100, sevCritical}, {-1, sevHigh},
}

// severityForScore maps a score in tenths to its CVSS v3 band label; 0 is labelled LOW
// (va_cves has no NONE).
func severityForScore(t int16) uint8 {
	switch {
	case t >= 90:
		return sevCritical
	case t >= 70:
		return sevHigh
	case t >= 40:
		return sevMedium
	}
	return sevLow
}

// operationalStates are operational_status values with the description and details a
// partially protected or unprotected agent reports.
var operationalStates = []struct {
	status, description string
	details             [][2]string // title, reason
	weight              int
}{
	{"PROTECTED", "", nil, 86},
	{"PARTIALLY_PROTECTED", `[{"name": "generalStatus", "error_code": 10004}]`, [][2]string{{"Kernel module", "Kernel module is not loaded"}}, 10},
	{"UNPROTECTED", `[{"name": "generalStatus", "error_code": 10001}, {"name": "prevention", "error_code": 20003}]`, [][2]string{{"Prevention", "Agent prevention is disabled"}, {"Kernel module", "Kernel module is not loaded"}}, 4},
}
