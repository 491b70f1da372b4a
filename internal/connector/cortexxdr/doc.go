// Package cortexxdr is the Palo Alto Networks Cortex XDR connector: it pages endpoints
// through get_endpoint and reads vulnerabilities through XQL (the va_cves dataset), one
// scope per tenant (its API host name), and maps them to Device assets and findings per
// SPEC §1.2.
//
// # Raw records
//
// Kind "endpoint", or "endpoint_removed" when the endpoint's status is in
// remove_statuses: VendorKey = endpoint_id; Payload = the endpoint object's bytes exactly
// as get_endpoint returned them.
//
// Kind "vulnerability": one affected host of one va_cves row. VendorKey = endpoint_name
// + "/" + CVE id (cve_id, else name), which is also the finding's unique id. Payload is
// an envelope that keeps the vendor row's bytes untouched and adds the join the fetcher
// made, since findings name their host and assets are keyed by endpoint id:
//
//	{"endpoint_name": "WEB-01", "endpoint_ids": ["a1b2…", "0f9e…"], "row": <row bytes>}
//
// endpoint_name is the host the record is about: the row's affected_hosts after
// arrayexpand (each element when it is still an array; endpoint_name when the row has
// no affected_hosts). endpoint_ids are the ids of every endpoint get_endpoint returned
// with that name, compared case-insensitively as host names are, best first: endpoints
// whose status is not in remove_statuses before those that are, then the most recently
// seen. It is empty when no endpoint has the name. A result-stream line that is not
// JSON is emitted as it came (VendorKey "xql-row/<line>") for the normalizer to
// dead-letter; a row that names no host is skipped and counted in FetchResult.Skipped.
package cortexxdr
