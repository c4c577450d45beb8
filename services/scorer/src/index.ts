export { createScorer, SCORER_GROUP, type Scorer, type ScorerOptions, type ScorerStatus } from './scorer.ts';
export { startScorerService, type ScorerService } from './main.ts';
export { createDetectionEngine, DetectionEngine, detectionId, type Candidate, type EngineOptions, type ScoredRequest, type RequestOrigin } from './engine/engine.ts';
export { claimedCrawler, createCrawlerVerifier, KNOWN_CRAWLERS, type CrawlerVerifier, type CrawlerVerdict, type KnownCrawler } from './crawlers.ts';
export { detectHistory, type HistoryDetectOptions, type HistoryDetectResult } from './history.ts';
