package jws

// The two ways DecodeObject decodes, compared by FuzzDecodeObject.
var (
	DecodeObjectFast   = decodeObjectFast
	DecodeObjectSlowly = decodeObjectSlowly
)
