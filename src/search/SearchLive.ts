import { Layer } from "effect"
import { AnalysisLive } from "../analysis/AnalysisLive.ts"
import { Search } from "./Search.ts"
import { SearchConfig } from "./SearchConfig.ts"
import { SearchStore } from "./SearchStore.ts"
import { VectorIndex } from "./VectorIndex.ts"

/**
 * Search with the vector index (one per process), their SQL (SearchStore) and the analysis it
 * embeds queries with, over the platform (SqlClient, UserScope). Needs EmailSummaries (provided by
 * the emails folder).
 */
export const SearchLive = Search.layer.pipe(
  Layer.provideMerge(VectorIndex.layer.pipe(Layer.provide(SearchConfig.layer))),
  Layer.provideMerge(SearchStore.layer),
  Layer.provideMerge(AnalysisLive)
)
