import { loaderById, loaderOfGroups } from '../platform/loader.js';
import type { AssetService } from './asset.service.js';
import type { Asset } from './asset.types.js';

/** The assets module's per-request loaders (made lazily by the request's loader set). */
export const assetLoaders = {
  assetById: (services: { assets: AssetService }) => loaderById<Asset>((ids) => services.assets.fetchByIds(ids)),

  assetsOfRoot: (services: { assets: AssetService }) => loaderOfGroups<string, Asset>((roots) => services.assets.listForRoots(roots), (asset) => asset.rootLedgerId),
};
