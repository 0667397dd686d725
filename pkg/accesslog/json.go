package accesslog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// jsonLine holds the keys of Istio's JSON encoding
// (EnvoyJSONLogFormatIstio in pilot/pkg/model/telemetry_logging.go). Envoy
// prints them in no fixed order and prints null for a missing value; users'
// custom JSON formats often print every value as a string instead, numbers
// included, and drop keys they do not want. Keys not listed are ignored.
type jsonLine struct {
	StartTime               jsonValue `json:"start_time"`
	RouteName               jsonValue `json:"route_name"`
	Method                  jsonValue `json:"method"`
	Path                    jsonValue `json:"path"`
	Protocol                jsonValue `json:"protocol"`
	ResponseCode            jsonValue `json:"response_code"`
	ResponseFlags           jsonValue `json:"response_flags"`
	ResponseCodeDetails     jsonValue `json:"response_code_details"`
	ConnTerminationDetails  jsonValue `json:"connection_termination_details"`
	BytesReceived           jsonValue `json:"bytes_received"`
	BytesSent               jsonValue `json:"bytes_sent"`
	Duration                jsonValue `json:"duration"`
	UpstreamServiceTime     jsonValue `json:"upstream_service_time"`
	XForwardedFor           jsonValue `json:"x_forwarded_for"`
	UserAgent               jsonValue `json:"user_agent"`
	RequestID               jsonValue `json:"request_id"`
	Authority               jsonValue `json:"authority"`
	UpstreamHost            jsonValue `json:"upstream_host"`
	UpstreamCluster         jsonValue `json:"upstream_cluster"`
	UpstreamLocalAddress    jsonValue `json:"upstream_local_address"`
	DownstreamLocalAddress  jsonValue `json:"downstream_local_address"`
	DownstreamRemoteAddress jsonValue `json:"downstream_remote_address"`
	RequestedServerName     jsonValue `json:"requested_server_name"`
	TransportFailureReason  jsonValue `json:"upstream_transport_failure_reason"`
}

// jsonValue is one scalar: a string, a number (kept as its text, so the
// caller decides how to read it) or null. present records that the key was
// there at all, even as null, which is how an access line is told apart from
// a pilot-agent JSON log line ({"level":"info","time":...,"msg":...}).
type jsonValue struct {
	s       string
	present bool
}

func (v *jsonValue) UnmarshalJSON(b []byte) error {
	v.present = true
	switch {
	case len(b) == 0:
		return nil
	case bytes.Equal(b, []byte("null")):
		v.s = ""
	case b[0] == '"':
		// encoding/json has validated the literal: without a backslash the
		// text between the quotes is the value.
		if bytes.IndexByte(b, '\\') < 0 {
			v.s = string(b[1 : len(b)-1])
			return nil
		}
		return json.Unmarshal(b, &v.s)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		v.s = string(b)
	default:
		return fmt.Errorf("want a string, a number or null, got %s", b)
	}
	return nil
}

// str is the value with Envoy's "-" placeholder mapped to "".
func (v jsonValue) str() string { return empty(v.s) }

func parseJSON(line string) (Entry, error) {
	var j jsonLine
	if err := json.Unmarshal([]byte(line), &j); err != nil {
		return Entry{}, malformed(line, "JSON: %v", err)
	}
	// Istio's encoding prints all 24 keys; custom formats keep most of them.
	// One or two shared names are not enough: Mixer's JSON log entries carry
	// "path" too (istio/istio.io#1570).
	if j.presentKeys() < 3 {
		return Entry{}, errNoJSONKeys
	}

	var e Entry
	if s := j.StartTime.str(); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return Entry{}, malformed(line, "start_time %q is not RFC 3339", s)
		}
		e.StartTime = t
	}
	code, ok := parseNumber(j.ResponseCode.s, 999)
	if !ok {
		return Entry{}, malformed(line, "response_code %q is not a status code", j.ResponseCode.s)
	}
	e.ResponseCode = int(code)
	if e.BytesReceived, ok = parseNumber(j.BytesReceived.s, math.MaxInt64); !ok {
		return Entry{}, malformed(line, "bytes_received %q is not a count", j.BytesReceived.s)
	}
	if e.BytesSent, ok = parseNumber(j.BytesSent.s, math.MaxInt64); !ok {
		return Entry{}, malformed(line, "bytes_sent %q is not a count", j.BytesSent.s)
	}
	e.Method = j.Method.str()
	e.Path = j.Path.str()
	e.Protocol = j.Protocol.str()
	e.ResponseFlags = j.ResponseFlags.str()
	e.ResponseCodeDetails = j.ResponseCodeDetails.str()
	e.XForwardedFor = j.XForwardedFor.str()
	e.UserAgent = j.UserAgent.str()
	e.RequestID = j.RequestID.str()
	e.Authority = j.Authority.str()
	e.UpstreamHost = j.UpstreamHost.str()
	e.UpstreamCluster = stripStatDelimiter(j.UpstreamCluster.str())
	e.UpstreamLocalAddress = j.UpstreamLocalAddress.str()
	e.DownstreamLocalAddress = j.DownstreamLocalAddress.str()
	e.DownstreamRemoteAddress = j.DownstreamRemoteAddress.str()
	e.RequestedServerName = j.RequestedServerName.str()
	e.RouteName = j.RouteName.str()
	return e, nil
}

func (j *jsonLine) presentKeys() int {
	n := 0
	for _, v := range [...]*jsonValue{
		&j.StartTime, &j.RouteName, &j.Method, &j.Path, &j.Protocol,
		&j.ResponseCode, &j.ResponseFlags, &j.ResponseCodeDetails,
		&j.ConnTerminationDetails, &j.BytesReceived, &j.BytesSent, &j.Duration,
		&j.UpstreamServiceTime, &j.XForwardedFor, &j.UserAgent, &j.RequestID,
		&j.Authority, &j.UpstreamHost, &j.UpstreamCluster,
		&j.UpstreamLocalAddress, &j.DownstreamLocalAddress,
		&j.DownstreamRemoteAddress, &j.RequestedServerName,
		&j.TransportFailureReason,
	} {
		if v.present {
			n++
		}
	}
	return n
}
