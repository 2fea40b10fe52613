// Shared by whip_publish.html and whep_play.html: the SDP's candidate lines and the selected ICE pair.
const candidates = (sdp) => sdp.split("\r\n").filter(l => l.startsWith("a=candidate:"));
async function selectedPair(pc) {
  const stats = await pc.getStats();
  for (const s of stats.values()) {
    if (s.type !== "transport" || !s.selectedCandidatePairId) continue;
    const pair = stats.get(s.selectedCandidatePairId), local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
    return `${local.address}:${local.port} -> ${remote.address}:${remote.port}`;
  }
  return "none";
}
