package avro

import (
	"fmt"
	"reflect"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/tributary-sec/tributary/internal/model"
)

// Full names of the record types, as in schemas/*.avsc.
const (
	nameRawRecord       = "tributary.v1.RawRecord"
	nameSyncEnd         = "tributary.v1.SyncEnd"
	nameAsset           = "tributary.v1.Asset"
	nameFinding         = "tributary.v1.Finding"
	nameEnrichedFinding = "tributary.v1.EnrichedFinding"
	nameEnrichedAsset   = "tributary.v1.EnrichedAsset"
	nameStageEvent      = "tributary.v1.StageEvent"
	namePartitionDone   = "tributary.v1.PartitionDone"
	nameDeadLetter      = "tributary.v1.DeadLetter"
	nameVendorCounts    = "tributary.v1.VendorCounts"
)

const timestampBranch = "long.timestamp-millis"

// toNative and fromNative convert records to and from goavro's native form. Encode and
// Decode take this path for the records hot.go does not specialise; for those it does,
// only the tests do, with goavro as the oracle.
func toNative(msg any) (string, map[string]any, error) {
	if v := reflect.ValueOf(msg); v.Kind() == reflect.Pointer && v.IsNil() {
		return "", nil, fmt.Errorf("encoding avro message: nil %T", msg)
	}
	switch m := msg.(type) {
	case *model.RawRecord:
		return nameRawRecord, map[string]any{
			"sync_id":        m.SyncID,
			"connector_id":   m.ConnectorID,
			"connector_type": m.ConnectorType,
			"scope":          m.Scope,
			"kind":           m.Kind,
			"vendor_key":     m.VendorKey,
			"fetched_at":     m.FetchedAt,
			"payload":        m.Payload,
		}, nil
	case *model.SyncEnd:
		return nameSyncEnd, map[string]any{
			"sync_id":              m.SyncID,
			"connector_id":         m.ConnectorID,
			"connector_type":       m.ConnectorType,
			"sync_type":            string(m.SyncType),
			"stage":                m.Stage,
			"source_partition":     m.SourcePartition,
			"source_partitions":    m.SourcePartitions,
			"records":              m.Records,
			"outcome":              string(m.Outcome),
			"scopes":               scopesToNative(m.Scopes),
			"fetch_started_at":     m.FetchStartedAt,
			"asset_retention_days": m.AssetRetentionDays,
		}, nil
	case *model.Asset:
		return nameAsset, assetToNative(m), nil
	case *model.Finding:
		return nameFinding, findingToNative(m), nil
	case *model.EnrichedFinding:
		var transition any
		if t := m.Transition; t != nil {
			transition = goavro.Union("tributary.v1.Transition", map[string]any{
				"old_status": string(t.OldStatus),
				"new_status": string(t.NewStatus),
				"reason":     t.Reason,
			})
		}
		return nameEnrichedFinding, map[string]any{
			"finding":    findingToNative(&m.Finding),
			"severity":   string(m.Severity),
			"status":     string(m.Status),
			"transition": transition,
		}, nil
	case *model.EnrichedAsset:
		var transition any
		if t := m.Transition; t != nil {
			transition = goavro.Union("tributary.v1.AssetTransition", map[string]any{
				"old_state": t.OldState,
				"new_state": t.NewState,
				"reason":    t.Reason,
			})
		}
		return nameEnrichedAsset, map[string]any{
			"asset":      assetToNative(&m.Asset),
			"state":      m.State,
			"transition": transition,
		}, nil
	case *model.StageEvent:
		var block any
		if e := m.Error; e != nil {
			block = goavro.Union("tributary.v1.ErrorBlock", map[string]any{
				"class":              e.Class,
				"message":            e.Message,
				"recommended_action": e.RecommendedAction,
				"root_cause":         e.RootCause,
				"code":               e.Code,
				"details":            e.Details,
				"response_headers":   mapToNative(e.ResponseHeaders),
				"response_payload":   e.ResponsePayload,
			})
		}
		return nameStageEvent, map[string]any{
			"sync_id":        m.SyncID,
			"connector_id":   m.ConnectorID,
			"connector_type": m.ConnectorType,
			"sync_type":      string(m.SyncType),
			"stage":          m.Stage,
			"state":          string(m.State),
			"level":          string(m.Level),
			"message":        m.Message,
			"time":           m.Time,
			"started_at":     optionalTime(m.StartedAt),
			"ended_at":       optionalTime(m.EndedAt),
			"records_in":     m.RecordsIn,
			"records_out":    m.RecordsOut,
			"records_failed": m.RecordsFailed,
			"error":          block,
		}, nil
	case *model.PartitionDone:
		return namePartitionDone, map[string]any{
			"sync_id":              m.SyncID,
			"connector_id":         m.ConnectorID,
			"connector_type":       m.ConnectorType,
			"sync_type":            string(m.SyncType),
			"partition":            m.Partition,
			"partitions":           m.Partitions,
			"assets":               m.Assets,
			"findings":             m.Findings,
			"outcome":              string(m.Outcome),
			"scopes":               scopesToNative(m.Scopes),
			"time":                 m.Time,
			"stage":                m.Stage,
			"records_in":           m.RecordsIn,
			"records_failed":       m.RecordsFailed,
			"first_failure":        m.FirstFailure,
			"asset_retention_days": m.AssetRetentionDays,
		}, nil
	case *model.VendorCounts:
		counts := make([]any, len(m.Counts))
		for i, c := range m.Counts {
			counts[i] = map[string]any{"object": c.Object, "class": string(c.Class), "count": c.Count, "source": c.Source}
		}
		return nameVendorCounts, map[string]any{
			"sync_id":        m.SyncID,
			"connector_id":   m.ConnectorID,
			"connector_type": m.ConnectorType,
			"sync_type":      string(m.SyncType),
			"counts":         counts,
			"unavailable":    m.Unavailable,
			"time":           m.Time,
		}, nil
	case *model.DeadLetter:
		return nameDeadLetter, map[string]any{
			"topic":        m.Topic,
			"partition":    m.Partition,
			"offset":       m.Offset,
			"key":          nonNilBytes(m.Key),
			"value":        nonNilBytes(m.Value),
			"reason":       m.Reason,
			"stage":        m.Stage,
			"sync_id":      m.SyncID,
			"connector_id": m.ConnectorID,
			"vendor_key":   m.VendorKey,
			"time":         m.Time,
		}, nil
	}
	return "", nil, fmt.Errorf("encoding avro message: no schema for %T", msg)
}

func fromNative(name string, m map[string]any) (any, error) {
	var err error
	r := reader{m: m, err: &err}
	var out any
	switch name {
	case nameRawRecord:
		out = &model.RawRecord{
			SyncID:        r.str("sync_id"),
			ConnectorID:   r.str("connector_id"),
			ConnectorType: r.str("connector_type"),
			Scope:         r.str("scope"),
			Kind:          r.str("kind"),
			VendorKey:     r.str("vendor_key"),
			FetchedAt:     r.time("fetched_at"),
			Payload:       r.bytes("payload"),
		}
	case nameSyncEnd:
		out = &model.SyncEnd{
			SyncID:             r.str("sync_id"),
			ConnectorID:        r.str("connector_id"),
			ConnectorType:      r.str("connector_type"),
			SyncType:           model.SyncType(r.str("sync_type")),
			Stage:              r.str("stage"),
			SourcePartition:    r.int32("source_partition"),
			SourcePartitions:   r.int32("source_partitions"),
			Records:            r.int64("records"),
			Outcome:            model.Outcome(r.str("outcome")),
			Scopes:             r.scopes("scopes"),
			FetchStartedAt:     r.time("fetch_started_at"),
			AssetRetentionDays: r.int32("asset_retention_days"),
		}
	case nameAsset:
		out = assetFromNative(&r)
	case nameFinding:
		out = findingFromNative(&r)
	case nameEnrichedFinding:
		ef := &model.EnrichedFinding{
			Severity: model.Severity(r.str("severity")),
			Status:   model.Status(r.str("status")),
		}
		inner := r.nested(r.record("finding"))
		ef.Finding = *findingFromNative(&inner)
		if t := r.union("transition"); t != nil {
			tr := r.nested(t)
			ef.Transition = &model.Transition{
				OldStatus: model.Status(tr.str("old_status")),
				NewStatus: model.Status(tr.str("new_status")),
				Reason:    tr.str("reason"),
			}
		}
		out = ef
	case nameEnrichedAsset:
		ea := &model.EnrichedAsset{State: r.str("state")}
		inner := r.nested(r.record("asset"))
		ea.Asset = *assetFromNative(&inner)
		if t := r.union("transition"); t != nil {
			tr := r.nested(t)
			ea.Transition = &model.AssetTransition{OldState: tr.str("old_state"), NewState: tr.str("new_state"), Reason: tr.str("reason")}
		}
		out = ea
	case nameStageEvent:
		ev := &model.StageEvent{
			SyncID:        r.str("sync_id"),
			ConnectorID:   r.str("connector_id"),
			ConnectorType: r.str("connector_type"),
			SyncType:      model.SyncType(r.str("sync_type")),
			Stage:         r.str("stage"),
			State:         model.StageState(r.str("state")),
			Level:         model.Level(r.str("level")),
			Message:       r.str("message"),
			Time:          r.time("time"),
			StartedAt:     r.optionalTime("started_at"),
			EndedAt:       r.optionalTime("ended_at"),
			RecordsIn:     r.int64("records_in"),
			RecordsOut:    r.int64("records_out"),
			RecordsFailed: r.int64("records_failed"),
		}
		if e := r.union("error"); e != nil {
			er := r.nested(e)
			ev.Error = &model.ErrorBlock{
				Class:             er.str("class"),
				Message:           er.str("message"),
				RecommendedAction: er.str("recommended_action"),
				RootCause:         er.str("root_cause"),
				Code:              er.str("code"),
				Details:           er.str("details"),
				ResponseHeaders:   er.strMap("response_headers"),
				ResponsePayload:   er.str("response_payload"),
			}
		}
		out = ev
	case namePartitionDone:
		out = &model.PartitionDone{
			SyncID:             r.str("sync_id"),
			ConnectorID:        r.str("connector_id"),
			ConnectorType:      r.str("connector_type"),
			SyncType:           model.SyncType(r.str("sync_type")),
			Partition:          r.int32("partition"),
			Partitions:         r.int32("partitions"),
			Assets:             r.int64("assets"),
			Findings:           r.int64("findings"),
			Outcome:            model.Outcome(r.str("outcome")),
			Scopes:             r.scopes("scopes"),
			Time:               r.time("time"),
			Stage:              r.str("stage"),
			RecordsIn:          r.int64("records_in"),
			RecordsFailed:      r.int64("records_failed"),
			FirstFailure:       r.str("first_failure"),
			AssetRetentionDays: r.int32("asset_retention_days"),
		}
	case nameVendorCounts:
		vc := &model.VendorCounts{
			SyncID:        r.str("sync_id"),
			ConnectorID:   r.str("connector_id"),
			ConnectorType: r.str("connector_type"),
			SyncType:      model.SyncType(r.str("sync_type")),
			Unavailable:   r.str("unavailable"),
			Time:          r.time("time"),
		}
		for _, v := range r.array("counts") {
			cr := r.nested(asRecord(v))
			vc.Counts = append(vc.Counts, model.VendorCount{Object: cr.str("object"), Class: model.AssetClass(cr.str("class")), Count: cr.int64("count"), Source: cr.str("source")})
		}
		out = vc
	case nameDeadLetter:
		out = &model.DeadLetter{
			Topic:       r.str("topic"),
			Partition:   r.int32("partition"),
			Offset:      r.int64("offset"),
			Key:         r.bytes("key"),
			Value:       r.bytes("value"),
			Reason:      r.str("reason"),
			Stage:       r.str("stage"),
			SyncID:      r.str("sync_id"),
			ConnectorID: r.str("connector_id"),
			VendorKey:   r.str("vendor_key"),
			Time:        r.time("time"),
		}
	default:
		return nil, fmt.Errorf("decoding avro message: no model type for %s", name)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", name, err)
	}
	return out, nil
}

func assetToNative(a *model.Asset) map[string]any {
	return map[string]any{
		"connector_id":        a.ConnectorID,
		"connector_type":      a.ConnectorType,
		"sync_id":             a.SyncID,
		"scope":               a.Scope,
		"uid":                 a.UID,
		"class":               string(a.Class),
		"name":                a.Name,
		"external_id":         a.ExternalID,
		"provider_id":         a.ProviderID,
		"operating_system":    a.OperatingSystem,
		"ipv4":                stringsToNative(a.IPv4),
		"ipv6":                stringsToNative(a.IPv6),
		"fqdn":                a.FQDN,
		"mac_addresses":       stringsToNative(a.MACAddresses),
		"image_tags":          stringsToNative(a.ImageTags),
		"image_digest":        a.ImageDigest,
		"provider":            a.Provider,
		"cloud_resource_type": a.CloudResourceType,
		"first_observed_at":   optionalTime(a.FirstObservedAt),
		"last_observed_at":    optionalTime(a.LastObservedAt),
		"vendor_status":       a.VendorStatus,
		"external_tags":       mapToNative(a.ExternalTags),
		"custom_attributes":   mapToNative(a.CustomAttributes),
		"fetched_at":          a.FetchedAt,
		"archive_reason":      a.ArchiveReason,
	}
}

func assetFromNative(r *reader) *model.Asset {
	return &model.Asset{
		ConnectorID:       r.str("connector_id"),
		ConnectorType:     r.str("connector_type"),
		SyncID:            r.str("sync_id"),
		Scope:             r.str("scope"),
		UID:               r.str("uid"),
		Class:             model.AssetClass(r.str("class")),
		Name:              r.str("name"),
		ExternalID:        r.str("external_id"),
		ProviderID:        r.str("provider_id"),
		OperatingSystem:   r.str("operating_system"),
		IPv4:              r.strs("ipv4"),
		IPv6:              r.strs("ipv6"),
		FQDN:              r.str("fqdn"),
		MACAddresses:      r.strs("mac_addresses"),
		ImageTags:         r.strs("image_tags"),
		ImageDigest:       r.str("image_digest"),
		Provider:          r.str("provider"),
		CloudResourceType: r.str("cloud_resource_type"),
		FirstObservedAt:   r.optionalTime("first_observed_at"),
		LastObservedAt:    r.optionalTime("last_observed_at"),
		VendorStatus:      r.str("vendor_status"),
		ExternalTags:      r.strMap("external_tags"),
		CustomAttributes:  r.strMap("custom_attributes"),
		FetchedAt:         r.time("fetched_at"),
		ArchiveReason:     r.str("archive_reason"),
	}
}

func findingToNative(f *model.Finding) map[string]any {
	var score, port any
	if f.Score != nil {
		score = goavro.Union("double", *f.Score)
	}
	if f.Port != nil {
		port = goavro.Union("int", *f.Port)
	}
	return map[string]any{
		"connector_id":      f.ConnectorID,
		"connector_type":    f.ConnectorType,
		"sync_id":           f.SyncID,
		"scope":             f.Scope,
		"uid":               f.UID,
		"asset_uids":        stringsToNative(f.AssetUIDs),
		"asset_class":       string(f.AssetClass),
		"asset_name":        f.AssetName,
		"name":              f.Name,
		"cves":              stringsToNative(f.CVEs),
		"description":       f.Description,
		"score":             score,
		"vendor_severity":   f.VendorSeverity,
		"vendor_status":     f.VendorStatus,
		"first_seen":        optionalTime(f.FirstSeen),
		"last_seen":         optionalTime(f.LastSeen),
		"port":              port,
		"protocol":          f.Protocol,
		"custom_attributes": mapToNative(f.CustomAttributes),
		"fetched_at":        f.FetchedAt,
	}
}

func findingFromNative(r *reader) *model.Finding {
	f := &model.Finding{
		ConnectorID:      r.str("connector_id"),
		ConnectorType:    r.str("connector_type"),
		SyncID:           r.str("sync_id"),
		Scope:            r.str("scope"),
		UID:              r.str("uid"),
		AssetUIDs:        r.strs("asset_uids"),
		AssetClass:       model.AssetClass(r.str("asset_class")),
		AssetName:        r.str("asset_name"),
		Name:             r.str("name"),
		CVEs:             r.strs("cves"),
		Description:      r.str("description"),
		VendorSeverity:   r.str("vendor_severity"),
		VendorStatus:     r.str("vendor_status"),
		FirstSeen:        r.optionalTime("first_seen"),
		LastSeen:         r.optionalTime("last_seen"),
		Protocol:         r.str("protocol"),
		CustomAttributes: r.strMap("custom_attributes"),
		FetchedAt:        r.time("fetched_at"),
	}
	if v, ok := r.unionValue("score", "double"); ok {
		s, _ := v.(float64)
		f.Score = &s
	}
	if v, ok := r.unionValue("port", "int"); ok {
		p, _ := v.(int32)
		f.Port = &p
	}
	return f
}

func scopesToNative(scopes []model.ScopeOutcome) []any {
	out := make([]any, len(scopes))
	for i, s := range scopes {
		out[i] = map[string]any{"scope": s.Scope, "outcome": string(s.Outcome), "records": s.Records}
	}
	return out
}

// optionalTime maps the zero time to Avro null.
func optionalTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return goavro.Union(timestampBranch, t)
}

// stringsToNative and mapToNative build the []any and map[string]any goavro works on:
// handed a []string or map[string]string, goavro converts it by reflection, slower.
func stringsToNative(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func mapToNative(m map[string]string) map[string]any {
	if len(m) == 0 {
		return nil // goavro writes an empty map
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// reader reads fields of a decoded record, remembering the first type mismatch in
// *err, which it shares with the readers of the records nested in it.
type reader struct {
	m   map[string]any
	err *error
}

func (r *reader) nested(m map[string]any) reader {
	return reader{m: m, err: r.err}
}

func (r *reader) fail(field string, v any, want string) {
	if *r.err == nil {
		*r.err = fmt.Errorf("field %s: got %T, want %s", field, v, want)
	}
}

func (r *reader) str(field string) string {
	v, ok := r.m[field].(string)
	if !ok {
		r.fail(field, r.m[field], "string")
	}
	return v
}

// bytes returns a copy of a bytes field, or nil when it is empty: goavro returns a
// slice of the message itself, which the caller may reuse.
func (r *reader) bytes(field string) []byte {
	v, ok := r.m[field].([]byte)
	if !ok {
		r.fail(field, r.m[field], "bytes")
	}
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

func (r *reader) int32(field string) int32 {
	v, ok := r.m[field].(int32)
	if !ok {
		r.fail(field, r.m[field], "int")
	}
	return v
}

func (r *reader) int64(field string) int64 {
	v, ok := r.m[field].(int64)
	if !ok {
		r.fail(field, r.m[field], "long")
	}
	return v
}

func (r *reader) time(field string) time.Time {
	v, ok := r.m[field].(time.Time)
	if !ok {
		r.fail(field, r.m[field], "timestamp-millis")
	}
	return v
}

func (r *reader) record(field string) map[string]any {
	v, ok := r.m[field].(map[string]any)
	if !ok {
		r.fail(field, r.m[field], "record")
	}
	return v
}

// union returns the record held by a nullable record field, or nil for null.
func (r *reader) union(field string) map[string]any {
	u, ok := r.m[field].(map[string]any)
	if !ok {
		return nil
	}
	for _, v := range u {
		rec, ok := v.(map[string]any)
		if !ok {
			r.fail(field, v, "record")
		}
		return rec
	}
	return nil
}

func (r *reader) unionValue(field, branch string) (any, bool) {
	u, ok := r.m[field].(map[string]any)
	if !ok {
		return nil, false
	}
	v, ok := u[branch]
	return v, ok
}

func (r *reader) optionalTime(field string) time.Time {
	v, ok := r.unionValue(field, timestampBranch)
	if !ok {
		return time.Time{}
	}
	t, ok := v.(time.Time)
	if !ok {
		r.fail(field, v, "timestamp-millis")
	}
	return t
}

func (r *reader) strs(field string) []string {
	arr, ok := r.m[field].([]any)
	if !ok {
		r.fail(field, r.m[field], "array of string")
		return nil
	}
	if len(arr) == 0 {
		return nil
	}
	out := make([]string, len(arr))
	for i, v := range arr {
		s, ok := v.(string)
		if !ok {
			r.fail(field, v, "string")
		}
		out[i] = s
	}
	return out
}

func (r *reader) strMap(field string) map[string]string {
	m, ok := r.m[field].(map[string]any)
	if !ok {
		r.fail(field, r.m[field], "map of string")
		return nil
	}
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			r.fail(field, v, "string")
		}
		out[k] = s
	}
	return out
}

func (r *reader) scopes(field string) []model.ScopeOutcome {
	arr := r.array(field)
	if len(arr) == 0 {
		return nil
	}
	out := make([]model.ScopeOutcome, len(arr))
	for i, v := range arr {
		sr := r.nested(asRecord(v))
		out[i] = model.ScopeOutcome{Scope: sr.str("scope"), Outcome: model.Outcome(sr.str("outcome")), Records: sr.int64("records")}
	}
	return out
}

// array returns an array of records, each to be read with nested(asRecord(item)).
func (r *reader) array(field string) []any {
	arr, ok := r.m[field].([]any)
	if !ok {
		r.fail(field, r.m[field], "array")
	}
	return arr
}

func asRecord(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
