package inspector

// Vocabulary the generator draws from: package ecosystems, platforms, names. Values are
// realistic, not real: CVE ids and versions are invented per seed.

// Ecosystems a vulnerability catalog is built for.
const (
	ecoAmazon2 = iota
	ecoAmazon2023
	ecoUbuntu
	ecoDebian
	ecoAlpine
	ecoWindows
	ecoPython
	ecoNode
	ecoJava
	ecoGo
	ecoDotnet
	numEcosystems
)

// ecosystem describes how the vulnerable packages of one ecosystem look.
type ecosystem struct {
	manager  string // packageManager
	source   string // packageVulnerabilityDetails.source for most of its vulnerabilities
	os       bool
	packages []string
}

var ecosystems = [numEcosystems]ecosystem{
	ecoAmazon2: {manager: "OS", source: "AMAZON_CVE", os: true, packages: []string{
		"kernel", "openssl", "glibc", "curl", "libcurl", "python3", "vim-minimal", "sudo", "systemd",
		"expat", "libxml2", "nss", "bind-libs", "krb5-libs", "openssh", "git", "perl", "zlib", "sqlite",
		"libssh2", "ca-certificates", "tar", "less", "binutils", "libtiff", "cpio", "rsync", "dbus",
		"python-pillow", "libwebp", "gnutls", "ncurses", "pcre2", "cyrus-sasl", "openldap", "xz-libs"}},
	ecoAmazon2023: {manager: "OS", source: "AMAZON_CVE", os: true, packages: []string{
		"kernel", "openssl-libs", "glibc", "curl-minimal", "libcurl-minimal", "python3", "vim-data",
		"sudo", "systemd-libs", "expat", "libxml2", "nss", "krb5-libs", "openssh", "git-core", "perl-libs",
		"zlib", "sqlite-libs", "libssh", "less", "binutils", "libtiff", "rsync", "gnutls", "ncurses-libs",
		"pcre2", "libnghttp2", "libarchive", "python3-setuptools", "gnupg2"}},
	ecoUbuntu: {manager: "OS", source: "UBUNTU_CVE", os: true, packages: []string{
		"libssl3", "openssl", "libc6", "libc-bin", "curl", "libcurl4", "systemd", "libsystemd0",
		"linux-libc-dev", "sudo", "python3.10", "vim", "git", "tar", "zlib1g", "libxml2", "libexpat1",
		"openssh-client", "libgnutls30", "libsqlite3-0", "bash", "login", "passwd", "libpam0g",
		"ncurses-bin", "libtasn1-6", "libgcrypt20", "libnghttp2-14", "libtiff5", "less"}},
	ecoDebian: {manager: "OS", source: "DEBIAN_CVE", os: true, packages: []string{
		"libssl3", "openssl", "libc6", "zlib1g", "libgnutls30", "tar", "perl-base", "libsystemd0",
		"libudev1", "libexpat1", "libxml2", "libsqlite3-0", "libcurl4", "curl", "libtiff6", "libpng16-16",
		"libfreetype6", "libgcrypt20", "libkrb5-3", "libldap-2.5-0", "ncurses-base", "bsdutils",
		"util-linux", "login", "passwd", "libdb5.3", "libpcre2-8-0", "libtasn1-6", "gpgv", "apt"}},
	ecoAlpine: {manager: "OS", source: "NVD", os: true, packages: []string{
		"musl", "musl-utils", "busybox", "libcrypto3", "libssl3", "zlib", "apk-tools", "ssl_client",
		"libcurl", "curl", "expat", "libxml2", "sqlite-libs", "libexpat", "ncurses-libs", "pcre2", "xz-libs",
		"libgcrypt", "libtasn1", "nghttp2-libs"}},
	ecoWindows: {manager: "OS", source: "NVD", os: true, packages: []string{
		"Windows Kernel", "Windows SMB Server", "Windows TCP/IP", "Windows Remote Desktop Services",
		"Windows Print Spooler", "Windows Win32k", "Windows LDAP", "Windows Hyper-V", ".NET Framework",
		"Windows Common Log File System Driver", "Windows DHCP Server", "Windows Kerberos", "Windows NTLM",
		"Windows Installer", "Windows Defender", "Windows Secure Boot", "Microsoft Message Queuing",
		"Windows CryptoAPI", "Windows Update Stack", "Internet Information Services"}},
	ecoPython: {manager: "PYTHONPKG", source: "NVD", packages: []string{
		"requests", "urllib3", "cryptography", "jinja2", "pyyaml", "setuptools", "certifi", "idna",
		"aiohttp", "pillow", "django", "flask", "werkzeug", "sqlparse", "pyjwt", "paramiko", "numpy",
		"lxml", "boto3", "botocore", "gunicorn", "starlette", "fastapi", "tornado", "pycryptodome",
		"protobuf", "grpcio", "pip", "wheel", "zipp"}},
	ecoNode: {manager: "NODEPKG", source: "NVD", packages: []string{
		"lodash", "axios", "express", "jsonwebtoken", "semver", "minimist", "ws", "tar",
		"follow-redirects", "braces", "micromatch", "cross-spawn", "path-to-regexp", "body-parser",
		"cookie", "send", "serve-static", "ip", "word-wrap", "tough-cookie", "json5", "qs", "undici",
		"node-fetch", "xml2js", "moment", "ejs", "handlebars", "got", "postcss"}},
	ecoJava: {manager: "JAR", source: "NVD", packages: []string{
		"org.apache.logging.log4j:log4j-core", "com.fasterxml.jackson.core:jackson-databind",
		"org.springframework:spring-web", "org.springframework:spring-webmvc", "io.netty:netty-codec-http",
		"io.netty:netty-handler", "org.yaml:snakeyaml", "org.apache.commons:commons-text",
		"com.google.guava:guava", "org.apache.tomcat.embed:tomcat-embed-core", "ch.qos.logback:logback-core",
		"com.google.protobuf:protobuf-java", "org.bouncycastle:bcprov-jdk18on", "commons-io:commons-io",
		"org.apache.httpcomponents:httpclient", "com.nimbusds:nimbus-jose-jwt", "org.postgresql:postgresql",
		"io.undertow:undertow-core", "org.eclipse.jetty:jetty-server", "com.amazonaws:aws-java-sdk-s3"}},
	ecoGo: {manager: "GOBINARY", source: "NVD", packages: []string{
		"golang.org/x/net", "golang.org/x/crypto", "google.golang.org/grpc", "google.golang.org/protobuf",
		"github.com/golang-jwt/jwt/v4", "stdlib", "github.com/docker/docker", "golang.org/x/text",
		"github.com/gin-gonic/gin", "github.com/go-git/go-git/v5", "github.com/hashicorp/go-retryablehttp",
		"github.com/opencontainers/runc", "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
		"github.com/golang/glog", "github.com/jackc/pgx/v5"}},
	ecoDotnet: {manager: "NUGET", source: "NVD", packages: []string{
		"Newtonsoft.Json", "System.Text.Json", "System.Data.SqlClient", "Microsoft.Data.SqlClient",
		"System.Net.Http", "Azure.Identity", "System.Text.RegularExpressions", "Microsoft.IdentityModel.JsonWebTokens",
		"System.Formats.Asn1", "Npgsql"}},
}

// descriptionTemplates are vulnerability descriptions; %[1]s is the package, %[2]s its version.
var descriptionTemplates = []string{
	"A use-after-free flaw was found in %[1]s. A local attacker could use this flaw to crash the system or potentially escalate their privileges.",
	"An out-of-bounds read in %[1]s %[2]s could allow a remote attacker to obtain sensitive information from process memory via crafted input.",
	"A heap-based buffer overflow in %[1]s before the fixed version allows remote attackers to cause a denial of service or possibly execute arbitrary code via a crafted payload.",
	"Improper input validation in %[1]s %[2]s allows an unauthenticated attacker to bypass authentication checks.",
	"A NULL pointer dereference in %[1]s could allow an attacker to cause a denial of service (crash) via a specially crafted request.",
	"Inefficient regular expression complexity in %[1]s allows a remote attacker to cause excessive CPU consumption (ReDoS) via crafted input.",
	"An integer overflow in %[1]s may lead to memory corruption when processing untrusted data, resulting in a crash or code execution.",
	"A path traversal vulnerability in %[1]s %[2]s allows an attacker to write files outside the intended directory.",
	"%[1]s is vulnerable to HTTP request smuggling due to inconsistent parsing of Transfer-Encoding and Content-Length headers.",
	"A race condition in %[1]s could allow a local user to gain elevated privileges.",
	"Deserialization of untrusted data in %[1]s %[2]s can lead to remote code execution.",
	"Uncontrolled resource consumption in %[1]s allows a remote attacker to exhaust memory by sending many small requests.",
	"Certificate validation in %[1]s does not correctly check the hostname, allowing a man-in-the-middle attacker to intercept traffic.",
	"An information disclosure vulnerability in %[1]s may expose credentials in log output under certain configurations.",
}

// EC2 vocabulary.
var (
	ec2Platforms = []weighted{{"AMAZON_LINUX_2", 40}, {"AMAZON_LINUX_2023", 20}, {"UBUNTU_22_04", 25}, {"WINDOWS_SERVER_2022", 15}}
	ec2Types     = []string{"t3.micro", "t3.small", "t3.medium", "t3.large", "m5.large", "m5.xlarge", "c5.2xlarge", "r6i.large", "m6i.xlarge", "c6i.large"}
	ec2ArmTypes  = []string{"t4g.small", "t4g.medium", "m6g.large", "c7g.xlarge"}
	ec2Roles     = []string{"web", "api", "worker", "bastion", "jenkins", "k8s-node", "db-proxy", "nat", "vpn", "batch", "kafka", "elastic", "monitoring", "airflow", "gitlab-runner", "redis"}
	ec2KeyNames  = []string{"prod-keypair", "ops-admin", "deploy-key", "bastion-key", "legacy-2019"}
	ec2Profiles  = []string{"AmazonSSMRoleForInstancesQuickSetup", "ec2-web-role", "eks-node-instance-profile", "jenkins-agent-profile", "ecsInstanceRole"}
	environments = []string{"prod", "prod", "staging", "dev", "qa"}
	teams        = []string{"payments", "platform", "data", "identity", "search", "checkout", "mobile-backend", "ml", "security", "growth"}
)

// ECR vocabulary.
var (
	ecrPlatforms = []weighted{{"DEBIAN_12", 35}, {"UBUNTU_22_04", 20}, {"ALPINE_LINUX_3_19", 25}, {"AMAZON_LINUX_2023", 20}}
	ecrServices  = []string{"api", "worker", "frontend", "gateway", "scheduler", "etl", "auth", "notifier", "ingest", "inference", "admin", "proxy"}
	ecrLangs     = []int{ecoPython, ecoNode, ecoJava, ecoGo}
	ecrAuthors   = []string{"", "", "", "Platform Team <platform@example.com>", "ci-bot"}
)

// Lambda vocabulary.
var (
	lambdaRuntimes = []weighted{{"PYTHON_3_11", 25}, {"PYTHON_3_9", 10}, {"NODEJS_18_X", 25}, {"NODEJS_16_X", 5}, {"JAVA_17", 15}, {"GO_1_X", 5}, {"DOTNET_6", 10}, {"NODEJS_24_X", 5}}
	lambdaNames    = []string{"order-processor", "thumbnail-generator", "s3-event-router", "slack-notifier", "cost-report", "user-signup-handler", "token-rotator", "log-shipper", "image-resizer", "etl-loader", "webhook-receiver", "cleanup-snapshots", "invoice-mailer", "audit-forwarder", "feature-flag-sync", "dlq-redriver"}
	lambdaLayers   = []string{"shared-deps", "datadog-extension", "powertools", "otel-collector", "pandas-layer"}
)

// networkPorts are the open port ranges of network-reachability findings.
var networkPorts = []struct {
	begin, end uint16
	proto      string
	severity   uint8
}{
	{22, 22, "TCP", sevMedium}, {3389, 3389, "TCP", sevMedium}, {80, 80, "TCP", sevLow}, {443, 443, "TCP", sevLow},
	{8080, 8080, "TCP", sevLow}, {3306, 3306, "TCP", sevHigh}, {5432, 5432, "TCP", sevHigh}, {6379, 6379, "TCP", sevHigh},
	{27017, 27017, "TCP", sevHigh}, {9200, 9200, "TCP", sevHigh}, {23, 23, "TCP", sevHigh}, {21, 21, "TCP", sevMedium},
	{53, 53, "UDP", sevLow}, {123, 123, "UDP", sevLow}, {161, 161, "UDP", sevMedium}, {1024, 65535, "TCP", sevMedium},
	{0, 65535, "TCP", sevHigh}, {500, 500, "UDP", sevLow},
}

// codeDetectors are the Lambda code-scanning detectors of CODE_VULNERABILITY findings.
var codeDetectors = []struct {
	lang, slug, name, ruleID string
	cwes, tags               []string
	severity                 uint8
	description              string
}{
	{"python", "sql-injection", "SQL injection", "python-sql-injection", []string{"CWE-89"}, []string{"injection", "sql", "owasp-top10", "top25-cwes"}, sevHigh,
		"User-provided inputs must be sanitized before they are used to generate a SQL database query. An attacker can create and use untrusted input to run query statements that read, modify, or delete database content."},
	{"python", "hardcoded-credentials", "Hardcoded credentials", "python-hardcoded-credentials", []string{"CWE-798"}, []string{"secrets", "owasp-top10", "top25-cwes"}, sevCritical,
		"Access credentials, such as passwords and access keys, should not be hardcoded in source code. Hardcoding credentials may cause leaks even after removing them."},
	{"python", "os-command-injection", "OS command injection", "python-oscommandinjectionrule", []string{"CWE-77", "CWE-78", "CWE-88"}, []string{"injection", "subprocess", "owasp-top10", "top25-cwes"}, sevHigh,
		"Constructing operating system or shell commands with unsanitized user input can lead to inadvertently running malicious code."},
	{"python", "insecure-hashing", "Insecure hashing", "python-crypto-compliance-message-digest", []string{"CWE-327", "CWE-328"}, []string{"cryptography"}, sevMedium,
		"A hashing algorithm is weak if it is easy to determine the original input from the hash or to find another input that yields the same hash."},
	{"javascript", "path-traversal", "Path traversal", "js-path-traversal", []string{"CWE-22"}, []string{"injection", "owasp-top10", "top25-cwes"}, sevHigh,
		"Constructing path names with unsanitized user input can lead to path traversal attacks that read or write files outside the intended directory."},
	{"javascript", "log-injection", "Log injection", "js-log-injection", []string{"CWE-117", "CWE-93"}, []string{"injection", "logging"}, sevLow,
		"User-provided inputs must be sanitized before they are logged. An attacker can use unsanitized input to break a log's integrity, forge log entries, or bypass log monitors."},
	{"javascript", "hardcoded-credentials", "Hardcoded credentials", "js-hardcoded-credentials", []string{"CWE-798"}, []string{"secrets", "owasp-top10"}, sevCritical,
		"Access credentials, such as passwords and access keys, should not be hardcoded in source code."},
	{"java", "insecure-connection", "Insecure connection using unencrypted protocol", "java-insecure-connection", []string{"CWE-319"}, []string{"cryptography", "owasp-top10"}, sevMedium,
		"Connections that use insecure protocols transmit data in cleartext, which can expose sensitive data to interception."},
	{"java", "resource-leak", "Resource leak", "java-resource-leak-detector", []string{"CWE-400", "CWE-664"}, []string{"availability", "resource-leak"}, sevMedium,
		"Allocated resources are not released properly, which can degrade performance or crash the function under load."},
}

// codeFiles are the source files of code findings by language.
var codeFiles = map[string][]string{
	"python":     {"src/handler.py", "app.py", "lib/db.py", "src/utils/auth.py"},
	"javascript": {"index.js", "src/handler.js", "lib/storage.js"},
	"java":       {"src/main/java/com/example/Handler.java", "src/main/java/com/example/db/Repository.java"},
}

// publicPrefixes are first octets of public IPv4 addresses in AWS ranges.
var publicPrefixes = []int{3, 18, 34, 35, 44, 52, 54}

// weighted is a choice with a relative weight.
type weighted struct {
	value  string
	weight int
}
