# lib-pairs.awk - check "ID PAYLOAD" pairs against envelopes.
#
#   awk -f lib-pairs.awk envelopes pairs
#
# The first file holds envelopes as `logcast read` prints them; each line
# of the second is an acknowledged id and the JSON its writer sent.  Exits
# 1 (printing the first few mismatches) unless every id holds exactly that.
NR == FNR {
	if (match($0, /^\{"id":[0-9]+,/)) {
		id = substr($0, 7, RLENGTH - 7)
		d = $0
		sub(/^.*"data":/, "", d)
		sub(/}$/, "", d)
		data[id] = d
	}
	next
}
{
	if (!($1 in data)) {
		if (bad++ < 5) print "acknowledged id " $1 " is missing"
	} else if (data[$1] != $2) {
		if (bad++ < 5) print "id " $1 " holds " data[$1] ", not " $2
	}
	n++
}
END {
	if (!n) { print "no pairs to check"; exit 1 }
	exit bad ? 1 : 0
}
