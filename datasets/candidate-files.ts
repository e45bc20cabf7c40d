import { z } from 'zod';
import {
  EntityFiguresSchema,
  PreprocessingSchema,
  type DatasetManifest,
  type EntityFigures,
  type Preprocessing,
} from '../common/artefacts';
import type { BlobStore } from '../storage/blob-store';
import { getJson, putJson } from '../storage/open-store';

// What travels beside a candidate's weights (`<candidateKey>/...`) from training to validation and
// registration: too big for the workflow history (per-entity statistics and figures).

const preprocessingKey = (candidateKey: string) => `${candidateKey}/preprocessing.json`;
const entitiesKey = (candidateKey: string) => `${candidateKey}/entities.json`;
const EntitiesSchema = z.record(z.string(), EntityFiguresSchema);

/** Records the preprocessing the candidate was trained under. */
export async function saveCandidatePreprocessing(
  store: BlobStore,
  candidateKey: string,
  pre: Preprocessing,
): Promise<void> {
  await putJson(store, preprocessingKey(candidateKey), pre);
}

/** The candidate's preprocessing; a candidate trained before it was recorded used the dataset's own. */
export async function candidatePreprocessing(
  store: BlobStore,
  candidateKey: string,
  manifest: DatasetManifest,
): Promise<Preprocessing> {
  const found = await getJson(store, preprocessingKey(candidateKey), PreprocessingSchema);
  return found?.value ?? manifest.preprocessing;
}

/** Records validation's per-entity holdout figures for registration to keep. */
export async function saveEntityFigures(
  store: BlobStore,
  candidateKey: string,
  figures: Record<string, EntityFigures>,
): Promise<void> {
  await putJson(store, entitiesKey(candidateKey), figures);
}

export async function entityFigures(
  store: BlobStore,
  candidateKey: string,
): Promise<Record<string, EntityFigures> | undefined> {
  return (await getJson(store, entitiesKey(candidateKey), EntitiesSchema))?.value;
}
