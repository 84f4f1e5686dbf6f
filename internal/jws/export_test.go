package jws

// The two ways DecodeObject decodes, compared by FuzzDecodeObject.
var (
	DecodeObjectFast   = decodeObjectFast
	DecodeObjectSlowly = decodeObjectSlowly
)

// Valid is the walker's json.Valid, compared by FuzzValid.
var Valid = valid

// The two ways Header checks, compared by FuzzHeader.
var (
	HeaderFast   = headerFast
	HeaderSlowly = headerSlowly
)
