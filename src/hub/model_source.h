#pragma once
// `--model` as users write it: a directory stays a directory; "ORG/NAME" (or "NAME") is a
// Hugging Face hub id, served from the Hugging Face cache when the snapshot is complete there,
// else downloaded into that cache (only the files the engine reads) and served from it.
#include <filesystem>
#include <string>

#include "hub/hub_settings.h"

namespace rerankd::hub {

// Whether `text` has the form of a hub id (one or two names of letters, digits, '-', '_', '.').
bool is_hub_id(const std::string& text);

// The model directory `model` stands for. An existing directory is returned as is; a hub id at
// `revision` (branch, tag or commit) is looked up in the cache, then fetched (unless
// settings.offline). Anything else: Error(kIo) "not a model directory". Hub errors as HubClient's;
// offline with nothing cached: Error(kUnavailable) naming HF_HUB_OFFLINE and the cache path.
std::filesystem::path resolve_model(const std::string& model, const std::string& revision, const HubSettings& settings);

// Fetches `repo_id` at `revision` into the cache, asking the hub even when a snapshot is cached
// (a branch may have moved), and returns the snapshot directory.
std::filesystem::path download_model(const std::string& repo_id, const std::string& revision,
                                     const HubSettings& settings);

}  // namespace rerankd::hub
