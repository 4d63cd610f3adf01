package glacieremu

import (
	"net/http"
	"net/url"
	"strings"
)

// Op names an operation of the Glacier API, as the AWS SDKs name it.
type Op string

// The operations the emulator implements.
const (
	OpCreateVault             Op = "CreateVault"
	OpDescribeVault           Op = "DescribeVault"
	OpListVaults              Op = "ListVaults"
	OpDeleteVault             Op = "DeleteVault"
	OpUploadArchive           Op = "UploadArchive"
	OpDeleteArchive           Op = "DeleteArchive"
	OpInitiateMultipartUpload Op = "InitiateMultipartUpload"
	OpUploadMultipartPart     Op = "UploadMultipartPart"
	OpListParts               Op = "ListParts"
	OpCompleteMultipartUpload Op = "CompleteMultipartUpload"
	OpAbortMultipartUpload    Op = "AbortMultipartUpload"
	OpListMultipartUploads    Op = "ListMultipartUploads"
	OpInitiateJob             Op = "InitiateJob"
	OpDescribeJob             Op = "DescribeJob"
	OpListJobs                Op = "ListJobs"
	OpGetJobOutput            Op = "GetJobOutput"
	OpAddTagsToVault          Op = "AddTagsToVault"
	OpListTagsForVault        Op = "ListTagsForVault"
	OpRemoveTagsFromVault     Op = "RemoveTagsFromVault"

	// AllOps is the Config.Faults key for operations without their own entry.
	AllOps Op = "*"
)

// Ops lists every implemented operation.
func Ops() []Op {
	return []Op{
		OpCreateVault, OpDescribeVault, OpListVaults, OpDeleteVault,
		OpUploadArchive, OpDeleteArchive,
		OpInitiateMultipartUpload, OpUploadMultipartPart, OpListParts,
		OpCompleteMultipartUpload, OpAbortMultipartUpload, OpListMultipartUploads,
		OpInitiateJob, OpDescribeJob, OpListJobs, OpGetJobOutput,
		OpAddTagsToVault, OpListTagsForVault, OpRemoveTagsFromVault,
	}
}

// route is a parsed request path.
type route struct {
	op      Op
	account string
	vault   string
	id      string // archive, upload or job id

	// dropMidResponse asks GetJobOutput to cut the connection halfway
	// through the body (an injected fault).
	dropMidResponse bool
}

// parseRoute maps method, path and (for the tag operations, which share a
// path) the "operation" query parameter to an operation. Paths follow the
// REST API: /{account}/vaults[/{vault}[/tags|archives|multipart-uploads|
// jobs[/{id}[/output]]]].
func parseRoute(method, escapedPath, operation string) (route, *apiError) {
	raw := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	seg := make([]string, len(raw))
	for i, s := range raw {
		u, err := url.PathUnescape(s)
		if err != nil {
			return route{}, unknownOp(method, escapedPath)
		}
		seg[i] = u
	}
	if len(seg) < 2 || seg[1] != "vaults" || seg[0] == "" {
		return route{}, unknownOp(method, escapedPath)
	}
	rt := route{account: seg[0]}
	if len(seg) >= 3 {
		rt.vault = seg[2]
	}
	if len(seg) >= 5 {
		rt.id = seg[4]
		if rt.id == "" {
			return route{}, unknownOp(method, escapedPath)
		}
	}
	key := method + " " + shape(seg)
	if key == "POST {account}/vaults/{vault}/tags" {
		switch operation {
		case "add":
			return route{op: OpAddTagsToVault, account: rt.account, vault: rt.vault}, nil
		case "remove":
			return route{op: OpRemoveTagsFromVault, account: rt.account, vault: rt.vault}, nil
		case "":
			return route{}, missingParam("Required query parameter operation is missing")
		}
		return route{}, invalidParam("Invalid operation: %s (add or remove)", clip(operation))
	}
	op, ok := lookupRoute(key)
	if !ok {
		return route{}, unknownOp(method, escapedPath)
	}
	rt.op = op
	return rt, nil
}

// shape replaces the variable segments of a path with placeholders.
func shape(seg []string) string {
	out := make([]string, len(seg))
	for i, s := range seg {
		switch i {
		case 0:
			out[i] = "{account}"
		case 2:
			out[i] = "{vault}"
		case 4:
			out[i] = "{id}"
		default:
			out[i] = s
		}
	}
	return strings.Join(out, "/")
}

// lookupRoute maps "METHOD shape" to the operation.
func lookupRoute(key string) (Op, bool) {
	switch key {
	case "GET {account}/vaults":
		return OpListVaults, true
	case "PUT {account}/vaults/{vault}":
		return OpCreateVault, true
	case "GET {account}/vaults/{vault}":
		return OpDescribeVault, true
	case "DELETE {account}/vaults/{vault}":
		return OpDeleteVault, true
	case "GET {account}/vaults/{vault}/tags":
		return OpListTagsForVault, true
	case "POST {account}/vaults/{vault}/archives":
		return OpUploadArchive, true
	case "DELETE {account}/vaults/{vault}/archives/{id}":
		return OpDeleteArchive, true
	case "POST {account}/vaults/{vault}/multipart-uploads":
		return OpInitiateMultipartUpload, true
	case "GET {account}/vaults/{vault}/multipart-uploads":
		return OpListMultipartUploads, true
	case "PUT {account}/vaults/{vault}/multipart-uploads/{id}":
		return OpUploadMultipartPart, true
	case "GET {account}/vaults/{vault}/multipart-uploads/{id}":
		return OpListParts, true
	case "POST {account}/vaults/{vault}/multipart-uploads/{id}":
		return OpCompleteMultipartUpload, true
	case "DELETE {account}/vaults/{vault}/multipart-uploads/{id}":
		return OpAbortMultipartUpload, true
	case "POST {account}/vaults/{vault}/jobs":
		return OpInitiateJob, true
	case "GET {account}/vaults/{vault}/jobs":
		return OpListJobs, true
	case "GET {account}/vaults/{vault}/jobs/{id}":
		return OpDescribeJob, true
	case "GET {account}/vaults/{vault}/jobs/{id}/output":
		return OpGetJobOutput, true
	}
	return "", false
}

func unknownOp(method, path string) *apiError {
	return newError(http.StatusNotFound, CodeUnknownOperation,
		"the emulator does not implement %s %s", method, clip(path))
}
