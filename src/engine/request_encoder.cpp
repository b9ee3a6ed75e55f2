#include "engine/request_encoder.h"

#include <string>
#include <unordered_map>

#include "common/error.h"

namespace rerankd {

RequestEncoder::RequestEncoder(const PairTokenizer& tokenizer, const EncoderSettings& settings, ScoreCache* cache,
                               SchedulerMetrics& metrics)
    : tokenizer_(tokenizer),
      settings_(settings),
      cache_(cache),
      metrics_(metrics),
      estimate_(tokenizer.encode_pair("", "", settings.max_length).ids.size(), settings.max_length) {}

size_t RequestEncoder::least_tokens(const RerankInput& in, size_t first) const {
  size_t tokens = 0;
  for (size_t i = first; i < in.documents.size(); ++i) tokens += estimate_.at_least(in.query.size() + in.documents[i].size());
  return tokens;
}

size_t RequestEncoder::least_tokens(size_t body_bytes) const {
  // The body holds the query once and every document, in JSON: a \u escape takes up to three
  // times the bytes of the text it stands for, and nothing says how the bytes split into
  // documents, so the least is one pair of a third of them.
  return estimate_.at_least(body_bytes / 3);
}

EncodedRequest RequestEncoder::encode(RerankInput& in, const Progress& progress) const {
  // The server's chunk defaults are for cross-encoders: a decoder's prompt refuses only the chunks
  // a request asks for (a server serving both kinds keeps its defaults).
  const ChunkRequest defaults = tokenizer_.prompt_based() ? ChunkRequest{} : settings_.chunk_defaults;
  PairPlan plan = resolve_plan(in.chunks, defaults, in.truncation.value_or(settings_.truncation), in.truncation_side,
                               settings_.max_length);
  plan.return_chunks = in.return_chunks;
  plan.instruction = in.instruction;
  // Each text is tokenized only as far as the plan can use (the query to the pair's budget + 1), so
  // a request costs what it can use, however long its texts are.
  const QueryPairs query(tokenizer_, in.query, plan);

  // The least the documents after each one add, for `progress`.
  std::vector<size_t> rest_at_least(in.documents.size() + 1, 0);
  for (size_t i = in.documents.size(); i-- > 0;) {
    rest_at_least[i] = rest_at_least[i + 1] + estimate_.at_least(in.query.size() + in.documents[i].size());
  }

  EncodedRequest r;
  std::unordered_map<std::string, uint32_t> queued;  // identity -> index in r.pairs
  r.first_unit.push_back(0);
  for (size_t i = 0; i < in.documents.size(); ++i) {
    DocumentPairs doc = query.document(in.documents[i]);
    if (doc.pairs.size() == 1) estimate_.learn(in.query.size() + in.documents[i].size(), doc.pairs[0].pair.ids.size());
    in.documents[i] = std::string();  // encoded: the text is not needed any more
    if (!in.truncate && doc.truncated) {
      throw Error(Error::Kind::kUnprocessable, "document " + std::to_string(i) + ": the pair has more than " +
                                                   std::to_string(settings_.max_length) +
                                                   " tokens, the most the model takes; send truncate: true to cut it");
    }
    PairUsage usage{0, doc.truncated};
    for (const DocumentPair& p : doc.pairs) usage.tokens += p.pair.ids.size();
    r.usage.push_back(usage);
    const size_t units = r.unit_logits.size() + doc.pairs.size();
    if (settings_.max_pairs_per_request > 0 && units > settings_.max_pairs_per_request) {
      throw Error(Error::Kind::kTooLarge, "the documents make more than " +
                                              std::to_string(settings_.max_pairs_per_request) +
                                              " pairs with their chunks, the limit per request; send fewer "
                                              "documents or fewer chunks");
    }
    for (size_t k = 0; k < doc.pairs.size(); ++k) {
      DocumentPair& p = doc.pairs[k];
      const auto unit = static_cast<uint32_t>(r.unit_logits.size());
      r.unit_logits.push_back(0.f);
      r.unit_chunks.push_back(
          {static_cast<uint32_t>(k), static_cast<uint32_t>(doc.pairs.size()), p.char_start, p.char_end});
      r.total_tokens += p.pair.ids.size();
      if (cache_ != nullptr) {
        const std::vector<int32_t> identity = pair_identity(p.pair.ids, p.pair.type_ids);
        std::string key = identity_key(identity);
        if (const auto it = queued.find(key); it != queued.end()) {
          r.units_of[it->second].push_back(unit);
          metrics_.shared_pairs.inc();
          continue;
        }
        const std::optional<float> hit = cache_->find(identity);
        (hit ? metrics_.cache_hits : metrics_.cache_misses).inc();
        if (hit) {
          r.unit_logits[unit] = *hit;
          ++r.cached_pairs;
          continue;
        }
        queued.emplace(std::move(key), static_cast<uint32_t>(r.pairs.size()));
      }
      r.run_tokens += p.pair.ids.size();
      r.units_of.push_back({unit});
      r.pairs.push_back(std::move(p.pair));
    }
    r.first_unit.push_back(static_cast<uint32_t>(r.unit_logits.size()));
    if (i + 1 < in.documents.size()) progress(r.run_tokens, rest_at_least[i + 1], i + 1);
  }
  return r;
}

}  // namespace rerankd
