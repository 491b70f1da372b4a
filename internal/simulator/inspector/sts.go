package inspector

import (
	"crypto/rand"
	"encoding/xml"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	stsVersion   = "2011-06-15"
	stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
)

var (
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]*$`)
	externalIDPattern  = regexp.MustCompile(`^[\w+=,.@:/-]*$`)
)

// serveSTS serves the awsQuery STS actions AssumeRole and GetCallerIdentity.
func (s *Simulator) serveSTS(w http.ResponseWriter, r *http.Request, body []byte) {
	reqID := setRequestID(w)
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeXMLError(w, reqID, http.StatusBadRequest, "MalformedQueryString", "The request body is not a valid form")
		return
	}
	for k, v := range r.URL.Query() {
		form[k] = append(form[k], v...)
	}
	p, _, aerr := s.authenticate(r, body, "sts")
	if aerr != nil {
		writeXMLError(w, reqID, aerr.status, aerr.xmlCode, aerr.xmlMsg)
		return
	}
	action, version := form.Get("Action"), form.Get("Version")
	switch {
	case action == "":
		writeXMLError(w, reqID, http.StatusBadRequest, "MissingAction", "Missing Action")
	case version != stsVersion:
		writeXMLError(w, reqID, http.StatusBadRequest, "InvalidAction", "Could not find operation "+action+" for version "+version)
	case action == "AssumeRole":
		s.assumeRole(w, reqID, p, form)
	case action == "GetCallerIdentity":
		writeXML(w, http.StatusOK, "<GetCallerIdentityResponse xmlns=\""+stsNamespace+"\">\n"+
			"  <GetCallerIdentityResult>\n"+
			"    <Arn>"+xmlText(p.arn)+"</Arn>\n"+
			"    <UserId>"+xmlText(p.userID)+"</UserId>\n"+
			"    <Account>"+xmlText(p.account)+"</Account>\n"+
			"  </GetCallerIdentityResult>\n"+
			"  <ResponseMetadata>\n    <RequestId>"+reqID+"</RequestId>\n  </ResponseMetadata>\n"+
			"</GetCallerIdentityResponse>\n")
	default:
		writeXMLError(w, reqID, http.StatusBadRequest, "InvalidAction", "Could not find operation "+action+" for version "+version)
	}
}

// assumeRole validates an AssumeRole request, checks the role and external id against
// the configuration and issues session credentials.
func (s *Simulator) assumeRole(w http.ResponseWriter, reqID string, caller *principal, form url.Values) {
	roleARN, sessionName := form.Get("RoleArn"), form.Get("RoleSessionName")
	externalID, hasExternalID := form.Get("ExternalId"), form.Has("ExternalId")
	duration := 3600
	var problems []string
	switch {
	case !form.Has("RoleArn"):
		problems = append(problems, "Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	case len(roleARN) < 20 || len(roleARN) > 2048:
		problems = append(problems, "Value '"+roleARN+"' at 'roleArn' failed to satisfy constraint: Member must have length between 20 and 2048")
	}
	switch {
	case !form.Has("RoleSessionName"):
		problems = append(problems, "Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
	case len(sessionName) < 2 || len(sessionName) > 64:
		problems = append(problems, "Value '"+sessionName+"' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64")
	case !sessionNamePattern.MatchString(sessionName):
		problems = append(problems, "Value '"+sessionName+"' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
	}
	if v := form.Get("DurationSeconds"); v != "" {
		d, err := strconv.Atoi(v)
		if err != nil || d < 900 || d > 43200 {
			problems = append(problems, "Value '"+v+"' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200")
		}
		duration = d
	}
	if hasExternalID {
		switch {
		case len(externalID) < 2 || len(externalID) > 1224:
			problems = append(problems, "Value '"+externalID+"' at 'externalId' failed to satisfy constraint: Member must have length between 2 and 1224")
		case !externalIDPattern.MatchString(externalID):
			problems = append(problems, "Value '"+externalID+"' at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:/-]*")
		}
	}
	if len(problems) > 0 {
		noun := " validation errors detected: "
		if len(problems) == 1 {
			noun = " validation error detected: "
		}
		writeXMLError(w, reqID, http.StatusBadRequest, "ValidationError", strconv.Itoa(len(problems))+noun+strings.Join(problems, "; "))
		return
	}

	m := roleARNPattern.FindStringSubmatch(roleARN)
	denied := m == nil ||
		(s.cfg.RoleARN != "" && roleARN != s.cfg.RoleARN) ||
		(s.cfg.ExternalID != "" && externalID != s.cfg.ExternalID)
	if denied {
		writeXMLError(w, reqID, http.StatusForbidden, "AccessDenied",
			"User: "+caller.arn+" is not authorized to perform: sts:AssumeRole on resource: "+roleARN)
		return
	}
	account, roleName := m[1], m[2]
	now := s.clock().UTC()
	sess := &principal{
		accessKeyID: "ASIA" + randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
		secret:      randomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
		token:       "IQoJb3JpZ2luX2VjE" + randomString(340, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
		arn:         "arn:aws:sts::" + account + ":assumed-role/" + roleName + "/" + sessionName,
		userID:      "AROA" + idFromHash(roleARN, 17) + ":" + sessionName,
		account:     account,
		expires:     now.Add(time.Duration(duration) * time.Second).Truncate(time.Second),
	}
	s.mu.Lock()
	for k, old := range s.sessions {
		if !now.Before(old.expires) {
			delete(s.sessions, k)
		}
	}
	s.sessions[sess.accessKeyID] = sess
	s.mu.Unlock()

	var extra strings.Builder
	if form.Has("Policy") || form.Has("PolicyArns.member.1.arn") || form.Has("Tags.member.1.Key") {
		extra.WriteString("    <PackedPolicySize>6</PackedPolicySize>\n")
	}
	if v := form.Get("SourceIdentity"); v != "" {
		extra.WriteString("    <SourceIdentity>" + xmlText(v) + "</SourceIdentity>\n")
	}
	writeXML(w, http.StatusOK, "<AssumeRoleResponse xmlns=\""+stsNamespace+"\">\n"+
		"  <AssumeRoleResult>\n"+
		"    <AssumedRoleUser>\n"+
		"      <AssumedRoleId>"+xmlText(sess.userID)+"</AssumedRoleId>\n"+
		"      <Arn>"+xmlText(sess.arn)+"</Arn>\n"+
		"    </AssumedRoleUser>\n"+
		"    <Credentials>\n"+
		"      <AccessKeyId>"+sess.accessKeyID+"</AccessKeyId>\n"+
		"      <SecretAccessKey>"+sess.secret+"</SecretAccessKey>\n"+
		"      <SessionToken>"+sess.token+"</SessionToken>\n"+
		"      <Expiration>"+sess.expires.Format(time.RFC3339)+"</Expiration>\n"+
		"    </Credentials>\n"+
		extra.String()+
		"  </AssumeRoleResult>\n"+
		"  <ResponseMetadata>\n    <RequestId>"+reqID+"</RequestId>\n  </ResponseMetadata>\n"+
		"</AssumeRoleResponse>\n")
}

// writeXML writes an awsQuery response body.
func writeXML(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// writeXMLError writes an awsQuery error response.
func writeXMLError(w http.ResponseWriter, reqID string, status int, code, message string) {
	writeXML(w, status, "<ErrorResponse xmlns=\""+stsNamespace+"\">\n"+
		"  <Error>\n"+
		"    <Type>Sender</Type>\n"+
		"    <Code>"+xmlText(code)+"</Code>\n"+
		"    <Message>"+xmlText(message)+"</Message>\n"+
		"  </Error>\n"+
		"  <RequestId>"+reqID+"</RequestId>\n"+
		"</ErrorResponse>\n")
}

// xmlText escapes s for XML character data.
func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// randomString returns n characters of alphabet from crypto/rand.
func randomString(n int, alphabet string) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	for i, c := range buf {
		buf[i] = alphabet[int(c)%len(alphabet)]
	}
	return string(buf)
}
